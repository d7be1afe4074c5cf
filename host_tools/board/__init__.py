"""A board as the host sees it: its board file, the firmware built for it, its identity."""
