"""One host process owns each board's port and shares what it says (dashboard, Wyoming bridge)."""
