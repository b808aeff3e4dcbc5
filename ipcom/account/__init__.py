"""The Home Anywhere account service: import an installation from the vendor's cloud.

The Home Anywhere application keeps an account's sites in the vendor's cloud
service, a SOAP service at `SERVICE_URL`. Logging in (``LoginNeo``) lists the
account's sites; ``CheckSiteVersion`` returns one site's configuration: its
IPComs (local and remote address, the type of each bus, the IPCom's own
username and password, its output modules) and the elements of its maps
(what the application draws for each output, and where).

**Where the shapes come from.** The vendor does not document this service,
and nobody here has captured an exchange with it. Every request and answer
shape in this package is taken from another project's code: the other public
IPCom integration (J-Delsinne/AnB_Rimex-HomeAnyWhere-HA-Integration, branch
``automated-devices.yaml``, ``custom_components/ipcom/discovery/
homeanywhere_api.py``, ``devices_generator.py`` and the graphic types in
``const.py``). It is not the vendor's documentation. Where that code is
silent, the docstrings here say what is assumed.

Three jobs are kept apart, so that Home Assistant can send the very same
requests with its own aiohttp session:

- building requests (`soap`): `login_request` and `site_request` return a
  `SoapRequest` (URL, headers, body) to POST; every value is XML-escaped;
- reading answers (`soap`): `check_status`, `parse_login_response` and
  `parse_site_response` read an answer's bytes safely: at most
  `MAX_RESPONSE_BYTES`, and an answer that declares a DOCTYPE or an entity is
  refused before it is parsed (so no entity expansion and no external
  entities); `session_cookie` keeps the login's session cookie;
- importing (`mapping`): `import_installations` turns a site's configuration
  into `ImportedInstallation`s, each with its connection settings and a
  device map document in devices.yaml's format that `parse_device_map`
  accepts; `select_site` and `select_installation` (`selection`) pick the
  one to import.

`AccountClient` (`transport`) is the blocking transport of the command line:
`urllib`, TLS verified, no redirects followed, `REQUEST_TIMEOUT` per request.
The errors are in `errors`.

No password, the account's or an IPCom's, appears in an exception's text,
a repr or a log line.
"""

from .errors import (
    AccountAuthenticationError,
    AccountCertificateError,
    AccountChoiceError,
    AccountConnectionError,
    AccountError,
    AccountHTTPError,
    AccountNoIPComError,
    AccountNoSiteError,
    AccountRequestError,
    AccountResponseError,
    AccountTimeoutError,
)
from .mapping import (
    APPLIANCE_GRAPHICS,
    LIGHT_GRAPHICS,
    MODULE_DIMMER,
    MODULE_RELAY,
    MODULE_SHUTTER,
    OUTLET_GRAPHICS,
    SHUTTER_GRAPHICS,
    ImportedInstallation,
    import_installations,
)
from .selection import select_installation, select_site
from .soap import (
    LOGIN_ACTION,
    MAX_RESPONSE_BYTES,
    SERVICE_URL,
    SITE_ACTION,
    SOAP_ENVELOPE_NAMESPACE,
    SOAP_NAMESPACE,
    AccountIPCom,
    AccountModule,
    AccountSite,
    MapElement,
    SiteConfiguration,
    SoapRequest,
    check_status,
    login_request,
    parse_login_response,
    parse_site_response,
    session_cookie,
    site_request,
)
from .transport import REQUEST_TIMEOUT, AccountClient, SoapResponse

__all__ = [
    "APPLIANCE_GRAPHICS",
    "LIGHT_GRAPHICS",
    "LOGIN_ACTION",
    "MAX_RESPONSE_BYTES",
    "MODULE_DIMMER",
    "MODULE_RELAY",
    "MODULE_SHUTTER",
    "OUTLET_GRAPHICS",
    "REQUEST_TIMEOUT",
    "SERVICE_URL",
    "SHUTTER_GRAPHICS",
    "SITE_ACTION",
    "SOAP_ENVELOPE_NAMESPACE",
    "SOAP_NAMESPACE",
    "AccountAuthenticationError",
    "AccountCertificateError",
    "AccountChoiceError",
    "AccountClient",
    "AccountConnectionError",
    "AccountError",
    "AccountHTTPError",
    "AccountIPCom",
    "AccountModule",
    "AccountNoIPComError",
    "AccountNoSiteError",
    "AccountRequestError",
    "AccountResponseError",
    "AccountSite",
    "AccountTimeoutError",
    "ImportedInstallation",
    "MapElement",
    "SiteConfiguration",
    "SoapRequest",
    "SoapResponse",
    "check_status",
    "import_installations",
    "login_request",
    "parse_login_response",
    "parse_site_response",
    "select_installation",
    "select_site",
    "session_cookie",
    "site_request",
]
