"""Choosing what to import: the account's site and the site's IPCom, by name or ID.

An account may hold several sites and a site several IPComs; the user names
one, and an ambiguous or unknown name raises `AccountChoiceError` listing the
choices.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import AccountChoiceError, AccountNoSiteError
from .mapping import ImportedInstallation
from .shown import shown
from .soap import AccountSite


def select_site(sites: Sequence[AccountSite], wanted: str | None = None) -> AccountSite:
    """The site to import: the only one, or the one named `wanted` (its name or its ID).

    Raises `AccountNoSiteError` for an account without sites, and
    `AccountChoiceError` naming the sites when there are several and none was
    given, or none has that name.
    """
    if not sites:
        raise AccountNoSiteError("the Home Anywhere account has no site")
    names = [site.name for site in sites]
    if wanted is None:
        if len(sites) == 1:
            return sites[0]
        raise AccountChoiceError(
            f"the account has {len(sites)} sites, choose one: {_listed(names)}", names
        )
    return sites[_choose([(site.name, str(site.id)) for site in sites], wanted, "site")]


def select_installation(
    installations: Sequence[ImportedInstallation], wanted: str | None = None
) -> ImportedInstallation:
    """The IPCom to import: the only one of the site, or the one named `wanted` (name or ID)."""
    names = [installation.name for installation in installations]
    if wanted is None:
        if len(installations) == 1:
            return installations[0]
        raise AccountChoiceError(
            f"the site has {len(installations)} IPComs, choose one: {_listed(names)}",
            names,
            what="IPCom",
        )
    labels = [(installation.name, str(installation.ipcom_id)) for installation in installations]
    return installations[_choose(labels, wanted, "IPCom")]


def _choose(labels: list[tuple[str, str]], wanted: str, what: str) -> int:
    """The index of the one (name, ID) that `wanted` names: exactly, in any case, or by ID."""
    names = [name for name, _ in labels]
    exact = [index for index, (name, _) in enumerate(labels) if name == wanted]
    folded = [
        index
        for index, (name, _) in enumerate(labels)
        if name.casefold() == wanted.strip().casefold()
    ]
    by_id = [index for index, (_, ident) in enumerate(labels) if ident == wanted.strip()]
    for found in (exact, folded, by_id):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise AccountChoiceError(
                f"{len(found)} {what}s are named {shown(wanted)}: give the ID of one instead "
                f"({', '.join(labels[index][1] for index in found)})",
                names,
                what=what,
            )
    raise AccountChoiceError(
        f"no {what} named {shown(wanted)}; choose one of {_listed(names)}", names, what=what
    )


def _listed(names: Sequence[str]) -> str:
    return ", ".join(shown(name) for name in names)
