"""`earshot dashboard`: the household's page, served from the host that owns the board's port."""
