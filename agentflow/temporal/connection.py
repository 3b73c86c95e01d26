"""Where Temporal is and how to reach it: Temporal's own environment configuration, plus flags.

Every command and `ApprovalSettings` first look for a
running ``agentflow dev`` in the data folder (its record, see `agentflow.temporal.devrecord`:
the embedded server's address and namespace), then read the connection the
way the ``temporal`` CLI and Temporal's SDKs do (`temporalio.envconfig`), so one
configuration serves them all: a profile of the CLI's config file (``temporal.toml``, chosen by
``TEMPORAL_PROFILE``, found at ``TEMPORAL_CONFIG_FILE`` or the platform's config directory), then
the ``TEMPORAL_*`` environment variables over it (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS``, ``TEMPORAL_TLS_CLIENT_CERT_PATH``, ...), then explicit
arguments (the ``--temporal-address`` and ``--namespace`` options) over both::

    config = TemporalConfig.load(namespace="travel")  # file < environment < arguments
    client = await config.connect()

What temporalio leaves lenient is refused here, by name: a ``TEMPORAL_CONFIG_FILE`` that does not
exist, a ``TEMPORAL_TLS`` that is not a boolean, half a client certificate, an address that is
not ``host:port``. An empty variable counts as unset, as it always has for agentflow (temporalio
would read an empty ``TEMPORAL_TLS`` as "on").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

from agentflow.datadir import data_dir
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.devrecord import read_dev_record

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_NAMESPACE", "DEFAULT_TASK_QUEUE", "TemporalConfig"]

DEFAULT_ADDRESS = "127.0.0.1:7233"
"""Where ``agentflow dev`` and a local ``temporal server start-dev`` listen."""

DEFAULT_NAMESPACE = "default"

DEFAULT_TASK_QUEUE = "agentflow"
"""The task queue workers serve and clients send conversations to, unless told otherwise."""

_TLS_VALUES = frozenset({"true", "false", "1", "0"})
# host:port, host a name or an IPv4 address, or a bracketed IPv6 address.
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-_]*[A-Za-z0-9])?):(\d+)$")


class TemporalConfig(BaseModel):
    """Everything `temporalio.client.Client.connect` needs to reach one namespace.

    ``api_key``, ``tls`` (which may hold a private key) and ``rpc_metadata`` (which may hold
    credentials) are left out of the repr, so a config can be logged.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    api_key: SecretStr | None = Field(default=None, repr=False)
    tls: bool | TLSConfig = Field(default=False, repr=False)
    rpc_metadata: dict[str, str] = Field(default_factory=dict[str, str], repr=False)

    @field_validator("address")
    @classmethod
    def _host_and_port(cls, address: str) -> str:
        match = _ADDRESS.match(address)
        if match is None or not 0 < int(match.group(1)) < 65536:
            raise ValueError(f"the Temporal address must be host:port, not {address!r}")
        return address

    @field_validator("namespace")
    @classmethod
    def _namespace_name(cls, namespace: str) -> str:
        if not namespace or namespace != namespace.strip() or any(c.isspace() for c in namespace):
            raise ValueError(f"not a Temporal namespace name: {namespace!r}")
        return namespace

    @classmethod
    def load(
        cls,
        address: str | None = None,
        namespace: str | None = None,
        *,
        profile: str | None = None,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
        dev_record: bool = True,
    ) -> TemporalConfig:
        """The profile, then the environment, then ``address`` and ``namespace`` when given.

        Without ``address``, a running ``agentflow dev`` recorded in the data folder
        (``AGENTFLOW_DATA_DIR``, default ``.agentflow``) comes first: its embedded server (plain
        gRPC on loopback) and its namespace, unless ``namespace`` is given.

        Args:
            address: ``host:port`` overriding the profile's and ``TEMPORAL_ADDRESS``.
            namespace: Overrides the profile's and ``TEMPORAL_NAMESPACE``.
            profile: The config file's profile (default: ``TEMPORAL_PROFILE``, else
                ``default``; a profile named explicitly must exist).
            config_file: The TOML file (default: ``TEMPORAL_CONFIG_FILE``, else the platform's
                ``temporalio/temporal.toml``, which may be absent).
            environ: The variables to read instead of ``os.environ``.
            dev_record: ``False`` ignores a running ``agentflow dev``.

        Raises:
            ConfigurationError: A file, profile or value cannot be used; the message names it.
        """
        env = {k: v for k, v in (os.environ if environ is None else environ).items() if v}
        if address is None and dev_record:
            record = read_dev_record(data_dir(env))
            if record is not None:
                return cls.build(address=record.address, namespace=namespace or record.namespace)
        tls_flag = env.get("TEMPORAL_TLS")
        if tls_flag is not None and tls_flag.lower() not in _TLS_VALUES:
            raise ConfigurationError(f"TEMPORAL_TLS must be true or false, not {tls_flag!r}")
        if config_file is None and "TEMPORAL_CONFIG_FILE" in env:
            config_file = Path(env["TEMPORAL_CONFIG_FILE"])
            source = "TEMPORAL_CONFIG_FILE"
        else:
            source = "the config file"
        if config_file is not None and not config_file.is_file():
            # temporalio would silently fall back to no file at all.
            raise ConfigurationError(f"{source} {str(config_file)!r} is not a file")
        try:
            loaded = ClientConfigProfile.load(
                profile or None, config_source=config_file, override_env_vars=env
            )
            connect = loaded.to_client_connect_config()
        except OSError as exc:  # a certificate or key file named by the profile or environment
            raise ConfigurationError(
                f"cannot read a Temporal TLS file: {exc.strerror}: {exc.filename}"
            ) from None
        except RuntimeError as exc:  # temporalio's ConfigError: bad TOML, unknown profile
            raise ConfigurationError(f"Temporal client configuration: {exc}") from None
        tls = connect.get("tls", False)
        if isinstance(tls, TLSConfig) and (tls.client_cert is None) != (
            tls.client_private_key is None
        ):
            raise ConfigurationError(
                "a TLS client certificate needs its private key: set both "
                "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or the "
                "profile's tls.client_cert_path and tls.client_key_path), or neither"
            )
        if address is None:  # an argument given is used as given: an empty one is refused
            address = connect.get("target_host") or DEFAULT_ADDRESS
        if namespace is None:
            namespace = connect.get("namespace") or DEFAULT_NAMESPACE
        api_key = connect.get("api_key")
        values: dict[str, Any] = {
            "address": address,
            "namespace": namespace,
            "api_key": SecretStr(api_key) if api_key else None,
            "tls": tls,
            "rpc_metadata": dict(connect.get("rpc_metadata", {})),
        }
        return cls.build(**values)

    @classmethod
    def build(cls, **values: Any) -> TemporalConfig:
        """The constructor, with a bad value reported as a one-line `ConfigurationError`."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigurationError(
                "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
            ) from None

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `temporalio.client.Client.connect` (without the address)."""
        kwargs: dict[str, Any] = {"namespace": self.namespace, "tls": self.tls}
        if self.api_key is not None:
            kwargs["api_key"] = self.api_key.get_secret_value()
        if self.rpc_metadata:
            kwargs["rpc_metadata"] = dict(self.rpc_metadata)
        return kwargs

    async def connect(self, **kwargs: Any) -> Client:
        """A client via [`agentflow.temporal.connect`][]: agentflow's data converter included.

        ``kwargs`` go to `temporalio.client.Client.connect` (``interceptors``, ...).
        """
        from agentflow.temporal.devserver import connect

        options = self.connect_kwargs()
        namespace = options.pop("namespace")
        return await connect(self.address, namespace, **(options | kwargs))
