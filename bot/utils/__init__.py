"""What the cogs share, none of it a feature of its own.

``gate.py`` (who may ask now), ``checks.py`` (who is a moderator),
``answering.py`` (a question searched, logged and shaped into a ``Reply``),
``memory.py`` (questions answered, for paging and follow-ups), ``views.py``
(the buttons under an answer), ``render.py`` (embeds within Discord's limits),
``in_flight.py`` (answers a shutdown waits for), ``posting.py`` (Missing
Permissions explained once per channel), ``operator.py`` (errors only the
operator can fix), ``annotations.py`` (the auto-annotation switches on disk),
``source_requests.py`` ("@citebot source?") and ``once.py`` (a hint once per
person). Nothing here imports ``bot.app`` or a cog.
"""
