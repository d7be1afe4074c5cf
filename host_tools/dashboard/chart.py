"""Seconds of audio sent per day, as an SVG bar chart drawn from the verified log's entries."""

import datetime
import html

DAYS = 14  # the chart shows the last two weeks that have dated sessions
_W, _H, _PAD, _BOTTOM = 640, 200, 40, 36


def per_day(timeline, today=None):
    """[(label, seconds)]: one bar per day up to today, plus 'date unknown' when needed."""
    today = today or datetime.date.today()
    sums = {}
    undated = 0.0
    for item in timeline:
        if item["kind"] != "session":
            continue
        seconds = item.get("ms", 0) / 1000.0
        if item.get("when") is None:
            undated += seconds
            continue
        day = datetime.date.fromtimestamp(item["when"])
        sums[day] = sums.get(day, 0.0) + seconds
    first = min(sums, default=today)
    start = max(first, today - datetime.timedelta(days=DAYS - 1))
    bars = []
    day = start
    while day <= today:
        bars.append((day.strftime("%a %d %b"), sums.get(day, 0.0)))
        day += datetime.timedelta(days=1)
    if undated:
        bars.append(("date unknown", undated))
    return bars


def svg(bars):
    """The bar chart; text alternatives in <title> and a caption for screen readers."""
    top = max((s for _, s in bars), default=0.0)
    scale_max = _nice(top)
    n = max(1, len(bars))
    slot = (_W - 2 * _PAD) / n
    bar_w = max(4.0, slot * 0.6)
    plot_h = _H - _PAD - _BOTTOM
    total = sum(s for _, s in bars)
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" '
        'aria-labelledby="chart-title" class="chart">' % (_W, _H),
        '<title id="chart-title">Audio sent per day: %s in total</title>' % _seconds(total),
        '<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>' % (
            _PAD, _H - _BOTTOM, _W - _PAD, _H - _BOTTOM),
        '<text x="%d" y="%d" class="tick">%s</text>' % (_PAD, _PAD - 10, _seconds(scale_max)),
    ]
    for i, (label, seconds) in enumerate(bars):
        h = plot_h * seconds / scale_max if scale_max else 0
        x = _PAD + i * slot + (slot - bar_w) / 2
        y = _H - _BOTTOM - h
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar%s">'
                     '<title>%s: %s</title></rect>' % (
                         x, y, bar_w, h, " undated" if label == "date unknown" else "",
                         html.escape(label), _seconds(seconds)))
        if n <= 8 or i % max(1, n // 7) == 0 or label == "date unknown":
            parts.append('<text x="%.1f" y="%d" class="label" text-anchor="middle">%s</text>'
                         % (x + bar_w / 2, _H - _BOTTOM + 18, html.escape(label)))
    parts.append("</svg>")
    return "".join(parts)


def _nice(top):
    for step in (5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 36000):
        if top <= step:
            return float(step)
    return float(top)


def _seconds(s):
    return "%.0f s" % s if s < 120 else "%.1f min" % (s / 60)
