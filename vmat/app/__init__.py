"""``vmat app``: a local web page for prompts, propagation, edits and downloads (docs/app.md).

:mod:`.server` serves the page and the JSON API, :mod:`.session` holds each tab's clip and prompt,
:mod:`.jobs` runs propagation and edits in worker processes (:mod:`.worker`), :mod:`.files` checks
paths and uploads, and :mod:`.engine` is the one module that calls the rest of vmat.
"""
