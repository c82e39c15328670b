"""``midiforge studio``: a local web page to generate, audition, edit and export music.

The page (``static/``) talks JSON to a small Starlette app (:mod:`midiforge.studio.app`) bound to
127.0.0.1; every model run goes through one queue (:mod:`midiforge.studio.jobs`) that calls
midiforge's public API (``generate``, ``infill``, ``vary``), and every result is kept on disk
(:mod:`midiforge.studio.history`) so it can be reopened after a restart.
"""
