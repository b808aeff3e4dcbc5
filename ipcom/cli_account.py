"""`ipcom import-account`: a devices.yaml from the installer's Home Anywhere account.

The account knows the installation's outputs and connection settings, so a
user need not type the device map; the settings are printed as comments,
since devices.yaml does not hold them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import unicodedata
from typing import Final

import yaml

from . import account
from .cli_common import (
    ENV_PASSWORD,
    EXIT_AUTHENTICATION,
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_USAGE,
    AddCommand,
    CommandError,
    print_lines,
)
from .protocol import DEFAULT_BUS, BusType

ENV_ACCOUNT_USERNAME: Final = "IPCOM_ACCOUNT_USERNAME"
ENV_ACCOUNT_PASSWORD: Final = "IPCOM_ACCOUNT_PASSWORD"
ENV_ACCOUNT_URL: Final = "IPCOM_ACCOUNT_URL"
"""The account service's address; the vendor's by default (another one: a test service)."""


def add_account_command(add_command: AddCommand) -> None:
    """Add `import-account` and its options for choosing the account, site and IPCom."""
    import_account = add_command(
        "import-account",
        _cmd_import_account,
        "Print a devices.yaml imported from a Home Anywhere account, with the connection "
        "settings as comments.",
    )
    import_account.add_argument(
        "--account-user",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"the Home Anywhere account's user name (env {ENV_ACCOUNT_USERNAME}; "
        f"the password: env {ENV_ACCOUNT_PASSWORD} or asked for)",
    )
    import_account.add_argument(
        "--site",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="the site to import, by name or ID; needed when the account has several",
    )
    import_account.add_argument(
        "--ipcom",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="the site's IPCom to import, by name or ID; needed when the site has several",
    )
    import_account.add_argument(
        "--show-credentials",
        action="store_true",
        help="also print the IPCom's password (from the account) in the comments",
    )


def _cmd_import_account(args: argparse.Namespace) -> int:
    """Log in to the Home Anywhere account, fetch the site and print its devices.yaml.

    Only the document goes to stdout (`ipcom import-account > devices.yaml`);
    prompts and warnings go to stderr. The account's password is never
    printed; the IPCom's only with --show-credentials.
    """
    username = _account_username(args)
    password = os.environ.get(ENV_ACCOUNT_PASSWORD)
    if password is None:
        if not sys.stdin.isatty():
            raise CommandError(
                f"no account password: set {ENV_ACCOUNT_PASSWORD} or run ipcom in a terminal "
                "to be asked for it",
                EXIT_USAGE,
            )
        password = getpass.getpass(f"Home Anywhere password for {username}: ")
    url = os.environ.get(ENV_ACCOUNT_URL) or account.SERVICE_URL
    timeout: float = getattr(args, "timeout", account.REQUEST_TIMEOUT)
    try:
        service = account.AccountClient(url=url, timeout=timeout)
        sites = service.login(username, password)
        site = account.select_site(sites, getattr(args, "site", None))
        installations = account.import_installations(site, service.site_configuration(site))
        installation = account.select_installation(installations, getattr(args, "ipcom", None))
    except account.AccountError as err:
        raise _account_failure(err) from None
    for warning in installation.warnings:
        print(f"ipcom: warning: {_one_line(warning)}", file=sys.stderr, flush=True)
    print_lines(_account_header(installation, show_credentials=args.show_credentials))
    document = yaml.safe_dump(
        installation.devices, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    print(document if installation.devices else "lights: {}\n", end="", flush=True)
    return EXIT_OK


def _account_username(args: argparse.Namespace) -> str:
    username: str | None = getattr(args, "account_user", None) or os.environ.get(
        ENV_ACCOUNT_USERNAME
    )
    if not username and sys.stdin.isatty():
        print("Home Anywhere account user name: ", end="", file=sys.stderr, flush=True)
        username = sys.stdin.readline().strip()
    if not username:
        raise CommandError(
            f"no account user name: give --account-user or set {ENV_ACCOUNT_USERNAME}", EXIT_USAGE
        )
    return username


def _account_failure(err: account.AccountError) -> CommandError:
    """The exit code of each account failure; the message is the error's own."""
    if isinstance(err, account.AccountChoiceError):
        flag = "--site" if err.what == "site" else "--ipcom"
        return CommandError(f"{err}; give {flag} NAME", EXIT_USAGE)
    if isinstance(err, account.AccountAuthenticationError):
        return CommandError(str(err), EXIT_AUTHENTICATION)
    if isinstance(err, account.AccountNoSiteError | account.AccountNoIPComError):
        return CommandError(f"nothing to import: {err}", EXIT_USAGE)
    if isinstance(err, account.AccountRequestError):
        return CommandError(str(err), EXIT_USAGE)
    return CommandError(str(err), EXIT_CONNECTION)


def _account_header(
    installation: account.ImportedInstallation, *, show_credentials: bool
) -> list[str]:
    """The connection settings as YAML comments, one value per line, each made one line."""
    it = installation
    lines = [
        f"imported from the Home Anywhere account: site {it.site_name!r} (ID {it.site_id}), "
        f"IPCom {it.name!r} (ID {it.ipcom_id})",
        "The connection settings the account gives (ipcom options; this file does not hold them):",
        f"  --host {it.host or '(none given)'} --port {it.port}",
    ]
    if it.remote_host:
        lines.append(f"  --remote-host {it.remote_host} --remote-port {it.remote_port}")
    buses = f"  --bus-type {it.bus_types.get(DEFAULT_BUS, BusType.MINIDO).value}"
    if 2 in it.bus_types:
        buses += f" --bus-2-type {it.bus_types[2].value}"
    lines.append(buses)
    lines.append(
        "  TriCom: the account does not say; add --tricom if the installation is one "
        "(and --serial for its remote address)"
    )
    if it.registration_id:
        lines.append(f"  registration ID: {it.registration_id}")
    lines.append(f"  --username {it.username}" if it.username else "  username: none given")
    if it.password is None:
        lines.append("  password: none given")
    elif show_credentials:
        lines.append(f"  password ({ENV_PASSWORD}): {it.password}")
    else:
        lines.append(
            f"  password ({ENV_PASSWORD}): not shown; run import-account with "
            "--show-credentials to print it"
        )
    if it.warnings:
        lines.append("Warnings:")
        lines.extend(f"  {warning}" for warning in it.warnings)
    return [f"# {_one_line(line)}".rstrip() for line in lines] + [""]


def _one_line(text: str) -> str:
    """`text` with every line break and control character escaped, so it stays one comment line.

    YAML ends a comment at a line feed, a carriage return, U+0085, U+2028 and
    U+2029: a name from the account must not start a line of the document.
    """
    return "".join(
        char if char.isprintable() or unicodedata.category(char) == "Zs" else f"\\u{ord(char):04x}"
        for char in text
    )
