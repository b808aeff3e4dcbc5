"""Talk to a running Home Assistant the way its own frontend does: HTTP and the websocket API.

The demo needs a handful of things no configuration file can give: the owner account that
finishes onboarding, a login (through the trusted-networks provider, so no password is needed
afterwards), a long-lived token for the REST API, and a few registry commands. Only aiohttp is
used, which Home Assistant itself depends on.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import Any, Self

import aiohttp


class HassApiError(Exception):
    """Home Assistant answered, but not with what the demo needs."""


class HassApi:
    """One Home Assistant instance, reached over HTTP on a base URL such as http://127.0.0.1:8123."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        # The client id of an OAuth-style login is the URL of the client; Home Assistant accepts
        # its own address for clients served from it.
        self.client_id = f"{self.base_url}/"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._access_token: str | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._session.close()

    @property
    def access_token(self) -> str:
        """The short-lived access token of the current login."""
        if self._access_token is None:
            raise HassApiError("not logged in")
        return self._access_token

    async def wait_until_answering(self, alive: Callable[[], bool]) -> None:
        """Wait until the HTTP server answers; fail as soon as `alive()` says it never will."""
        while True:
            try:
                async with self._session.get(
                    f"{self.base_url}/manifest.json", timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if not alive():
                raise HassApiError("Home Assistant exited before it answered")
            await asyncio.sleep(0.5)

    async def onboarding_steps(self) -> dict[str, bool]:
        """Onboarding steps and whether each is done; empty once onboarding is complete."""
        async with self._session.get(f"{self.base_url}/api/onboarding") as response:
            if response.status == 404:
                return {}
            body = await self._json(response)
        return {step["step"]: bool(step["done"]) for step in body}

    async def create_owner(self, name: str, username: str, password: str) -> None:
        """Finish onboarding's user step: create the owner account and log in as it."""
        async with self._session.post(
            f"{self.base_url}/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        ) as response:
            body = await self._json(response)
        await self._exchange_code(body["auth_code"])

    async def login_trusted_network(self) -> None:
        """Log in through the trusted-networks provider, as a browser on this machine does."""
        async with self._session.post(
            f"{self.base_url}/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["trusted_networks", None],
                "redirect_uri": self.client_id,
            },
        ) as response:
            step = await self._json(response)
        if step.get("type") == "form":
            # Several users to pick from: the bypass only applies to a single one. Take the owner's
            # choice, which is the first the provider lists.
            users = step["data_schema"][0]["options"]
            async with self._session.post(
                f"{self.base_url}/auth/login_flow/{step['flow_id']}",
                json={"client_id": self.client_id, "user": users[0][0]},
            ) as response:
                step = await self._json(response)
        if step.get("type") != "create_entry":
            raise HassApiError(f"trusted-networks login did not finish: {step}")
        await self._exchange_code(step["result"])

    async def _exchange_code(self, code: str) -> None:
        async with self._session.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as response:
            body = await self._json(response)
        self._access_token = body["access_token"]

    def use_token(self, token: str) -> None:
        """Authenticate further requests with this token (for example a long-lived one)."""
        self._access_token = token

    async def rest(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """One authenticated REST API request; the decoded JSON answer."""
        async with self._session.request(
            method,
            f"{self.base_url}{path}",
            json=payload,
            headers={"Authorization": f"Bearer {self.access_token}"},
        ) as response:
            return await self._json(response)

    def websocket(self) -> HassWebSocket:
        """A websocket connection authenticated with the current login."""
        return HassWebSocket(self._session, self.base_url, self.access_token)

    async def long_lived_token(self, client_name: str) -> str:
        """Create a long-lived access token (what a user makes on their profile page)."""
        async with self.websocket() as ws:
            token = await ws.command(
                "auth/long_lived_access_token", client_name=client_name, lifespan=30
            )
        if not isinstance(token, str):
            raise HassApiError(f"unexpected long-lived token answer: {token!r}")
        return token

    @staticmethod
    async def _json(response: aiohttp.ClientResponse) -> Any:
        if response.status >= 400:
            text = await response.text()
            raise HassApiError(f"{response.method} {response.url.path}: {response.status} {text}")
        return await response.json()


class HassWebSocket:
    """Home Assistant's websocket API: authenticate, then numbered commands and their results."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, access_token: str) -> None:
        self._session = session
        self._url = f"{base_url.replace('http', 'ws', 1)}/api/websocket"
        self._access_token = access_token
        self._ids = itertools.count(1)
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> Self:
        self._ws = await self._session.ws_connect(self._url)
        greeting = await self._ws.receive_json()
        if greeting.get("type") != "auth_required":
            raise HassApiError(f"unexpected websocket greeting: {greeting}")
        await self._ws.send_json({"type": "auth", "access_token": self._access_token})
        answer = await self._ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise HassApiError(f"websocket authentication failed: {answer}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def command(self, command_type: str, **fields: Any) -> Any:
        """Send one command and return its result; events of subscriptions are not expected."""
        if self._ws is None:
            raise HassApiError("websocket not connected")
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "type": command_type, **fields})
        while True:
            answer: Mapping[str, Any] = await self._ws.receive_json(timeout=30)
            if answer.get("id") == message_id and answer.get("type") == "result":
                break
        if not answer["success"]:
            raise HassApiError(f"{command_type} failed: {answer['error']}")
        return answer["result"]

    async def promote_http_config(self) -> None:
        """Keep the `http:` settings of configuration.yaml (the loopback address, the port).

        Home Assistant 2026.11 takes them as a trial that reverts after five minutes to port 8123
        on every interface, then restarts, unless the owner confirms them (the frontend asks in a
        dialog). Releases before 2026.11 apply them for good and do not know the command. Once
        promoted (a configuration directory the demo used before), there is nothing pending.
        """
        try:
            await self.command("http/config/promote")
        except HassApiError as err:
            if "unknown_command" not in str(err) and "No pending HTTP config" not in str(err):
                raise
