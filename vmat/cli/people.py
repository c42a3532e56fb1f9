"""The people a command's edits name, checked against the prompt or masks before any work is done."""

from __future__ import annotations

from collections.abc import Iterable

from vmat.propagation.idmask import mask_folder_ids
from vmat.propagation.prompts import PromptError, prompt_ids, prompt_rounds


def check_edit_people(
    named: Iterable[int], *, prompt: str | None = None, prompt_frame: int = 0, masks: str | None = None
) -> None:
    """Fail at once, in one line, when an edit names a person id that the prompt file (or id-mask PNG), or the
    folder of id masks, does not hold. With neither (people found automatically) the ids are known only once the
    masks are made, and the pipeline checks them then."""
    named = set(named)
    if not named or (prompt is None and masks is None):
        return
    if masks is not None:
        known, where = mask_folder_ids(masks), f"the masks in {masks!r}"
    else:
        known, where = prompt_ids(prompt_rounds(prompt, prompt_frame) or []), f"the prompt {prompt!r}"
    missing = sorted(named - known)
    if missing:
        people = ", ".join(map(str, sorted(known))) or "nobody"
        label = "person" if len(missing) == 1 else "people"
        raise PromptError(f"{label} {', '.join(map(str, missing))} not in {where}, which names {people}; nothing was done")


def nobody_found(clip: str, given: str | None, outcome: str) -> str:
    """The warning for a command that found no person: why, ``outcome`` (what its outputs then are), what to do."""
    if given is None:
        return (
            f"the person detector found nobody on the first frame of {clip!r}: {outcome}; "
            "name them with --prompt FILE (see --help)"
        )
    return f"{given!r} names nobody: {outcome}"
