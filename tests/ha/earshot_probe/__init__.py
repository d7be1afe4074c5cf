"""A test harness inside Home Assistant (make ha-e2e): what a person does in HA's interface,
done over a loopback socket, one JSON request line -> one JSON reply line.

    {"op": "states"}                                  -> {"states": {entity_id: {state, attrs}}}
    {"op": "call", "domain", "service", "data"}       -> {} once the service call has run
    {"op": "pipeline", "stt", "tts", "voice"}         -> the preferred pipeline now uses them

Only for the throwaway configuration tests/test_ha_e2e.py writes; it binds 127.0.0.1.
"""

import asyncio
import json

from homeassistant.components import assist_pipeline

DOMAIN = "earshot_probe"


async def async_setup(hass, config):
    port = int(config[DOMAIN]["port"])

    async def handle(reader, writer):
        while line := await reader.readline():
            try:
                reply = await _request(hass, json.loads(line))
                reply["ok"] = True
            except Exception as e:  # noqa: BLE001 - a harness: every failure goes back
                reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    hass.data[DOMAIN] = server
    return True


async def _request(hass, req):
    op = req["op"]
    if op == "states":
        return {"states": {s.entity_id: {"state": s.state, "attrs": dict(s.attributes)}
                           for s in hass.states.async_all()}}
    if op == "call":
        await hass.services.async_call(req["domain"], req["service"], req.get("data") or {},
                                       blocking=True)
        return {}
    if op == "pipeline":
        pipeline = assist_pipeline.async_get_pipeline(hass)
        await assist_pipeline.async_update_pipeline(
            hass, pipeline, stt_engine=req["stt"], stt_language="en", tts_engine=req["tts"],
            tts_language="en_US", tts_voice=req.get("voice"),
            conversation_engine="conversation.home_assistant", conversation_language="en",
            language="en")
        return {"pipeline": assist_pipeline.async_get_pipeline(hass).to_json()}
    raise ValueError("unknown op %r" % op)
