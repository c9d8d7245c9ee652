"""The playground: talk to an agent from a browser and watch its graph run.

``graphflow playground AGENT.py`` (or ``graphflow dev AGENT.py --playground``) starts,
on 127.0.0.1 only, a development ``livekit-server`` when no server is configured, a
worker whose sessions publish their live figures into the room (:mod:`.live`), and a
small web server (:mod:`.web`) that serves the page built from ``web/`` and mints the
page's room token. The figures are a bounded, throttled stream on their own topic
(:mod:`.snapshot`), so the view works for any agent in any room.
"""
