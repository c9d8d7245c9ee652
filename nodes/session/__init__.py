"""The session's own nodes in its graph: the way in for requested turns, and the tap it watches."""
