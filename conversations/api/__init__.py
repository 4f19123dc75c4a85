"""HTTP APIs of the desk: the widget API (widget.py) and the agents' API (agents.py)."""
