"""Approvals configured from the environment, for the CLI, the web app and workers.

The library's classes take their dependencies as arguments and never read the environment;
this module is the one place that does, so a missing or inconsistent variable is reported once,
by name. `ApprovalSettings` is a pydantic-settings class: constructing it reads these
variables (an empty one counts as unset; arguments win over them)::

    AGENTFLOW_DATA_DIR      the data folder (default .agentflow): its agentflow.db and audit.db
                            are the databases when DATABASE_URL is unset, and agentflow dev
                            records there where its Temporal server listens
    DATABASE_URL            the org chart and the approval ledger (default: a SQLite file)
    TEMPORAL_*              where Temporal is and how to reach it, as Temporal's own tools
                            read it: TEMPORAL_ADDRESS (default 127.0.0.1:7233),
                            TEMPORAL_NAMESPACE (default "default"), TEMPORAL_API_KEY,
                            TEMPORAL_TLS_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE (see
                            agentflow.temporal.connection)
    AGENTFLOW_TASK_QUEUE    the task queue the approvals' workers serve (default "agentflow")
    SLACK_BOT_TOKEN         xoxb-…: turns the Slack channel on
    SLACK_SIGNING_SECRET    verifies Slack's HTTP requests (required for the HTTP endpoint)
    SLACK_APP_TOKEN         xapp-…: Socket Mode instead of a public HTTP endpoint
    SLACK_API_URL           another Web API base URL (a local stand-in in tests)
    AGENTFLOW_PUBLIC_URL    the web app's public base URL: approval messages link to the
                            conversation's timeline under it
    AGENTFLOW_AUDITORS      comma-separated handles who may read every conversation's timeline

Who is asking on the web app (`web_authenticator`; without any of these, ``?as=`` on
loopback only)::

    AGENTFLOW_OIDC_ISSUER   sign in with this OpenID Connect provider (its issuer URL)
    AGENTFLOW_OIDC_CLIENT_ID, AGENTFLOW_OIDC_CLIENT_SECRET   the app's client at the provider
    AGENTFLOW_OIDC_CLAIM    the ID token's claim that is the employee id (default "sub")
    AGENTFLOW_SESSION_SECRET   signs the sign-in session cookie (the same in every web
                            process; default: drawn per process)
    AGENTFLOW_IDENTITY_HEADER  or: take the person from this header, set by a proxy that
                            authenticates people
    AGENTFLOW_TRUSTED_PROXIES  comma-separated addresses or CIDR blocks of that proxy
    AGENTFLOW_PROXY_SECRET  or: a secret the proxy sends in X-Agentflow-Proxy-Secret
    AGENTFLOW_ALLOWED_HOSTS comma-separated Host names to answer besides AGENTFLOW_PUBLIC_URL's
"""

from __future__ import annotations

from agentflow.extras import require

require("temporal", "agentflow.approvals.settings")  # a missing extra is one line naming it

import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypedDict
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from sqlalchemy import Engine
from temporalio.service import TLSConfig

from agentflow.approvals.desk import ApprovalDesk
from agentflow.approvals.ledger import ApprovalLedger, LedgerChannel
from agentflow.approvals.orgchart import OrgChart
from agentflow.approvals.summary import Summariser, default_summary
from agentflow.audit.store import create_store_engine
from agentflow.datadir import (
    DATA_DIR_ENV,
    application_database_url,
    audit_database_default,
    data_dir,
)
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.channel import ApprovalChannel, LogChannel
from agentflow.temporal.connection import DEFAULT_ADDRESS, DEFAULT_NAMESPACE, TemporalConfig

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette

    from agentflow.audit.store import AuditStore
    from agentflow.web.identity import Authenticator, Identify
    from agentflow.web.slack_chat import SlackChat

DEFAULT_DATABASE_URL = "sqlite:///.agentflow/agentflow.db"
"""The application's database in the default data folder (see `agentflow.datadir`)."""


_environ: ContextVar[Mapping[str, str] | None] = ContextVar("agentflow_environ", default=None)
"""The variables `ApprovalSettings.from_env` was handed, while it reads them."""


class _Variables(EnvSettingsSource):
    """The environment (``os.environ``, or the mapping given to ``from_env``), by exact name.

    A field is read only under the variable its alias names. The ``temporal_*`` fields have
    none: ``TEMPORAL_*`` reaches them only through `_Temporal`.
    """

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _environ.get()
        if environ is None:
            return super()._load_env_vars()
        return parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Not super()'s lookup: it would also read a variable named like the field itself.
        name = field.validation_alias
        if not isinstance(name, str):
            return None, field_name, False
        return self.env_vars.get(name), name, False


class _Temporal(PydanticBaseSettingsSource):
    """The Temporal connection as Temporal's own tools read it (`TemporalConfig.load`)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # read all at once, in __call__

    def __call__(self) -> dict[str, Any]:
        temporal = TemporalConfig.load(environ=_environ.get())
        return {
            "temporal_address": temporal.address,
            "temporal_namespace": temporal.namespace,
            "temporal_api_key": temporal.api_key,
            "temporal_tls": temporal.tls,
            "temporal_rpc_metadata": temporal.rpc_metadata,
        }


class ApprovalSettings(BaseSettings):
    """The settings of the approvals' processes, read from the environment when constructed.

    Arguments win over the environment (``ApprovalSettings(task_queue="q")``); a variable that
    is empty counts as unset; no ``.env`` file is read.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        arbitrary_types_allowed=True,
        case_sensitive=True,
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    data_dir: Path = Field(
        default_factory=lambda: data_dir(_environ.get()), validation_alias=DATA_DIR_ENV
    )
    database_url: str = Field(
        default_factory=lambda data: application_database_url(
            {DATA_DIR_ENV: str(data["data_dir"])}
        ),
        validation_alias="DATABASE_URL",
    )
    temporal_address: str = DEFAULT_ADDRESS
    temporal_namespace: str = DEFAULT_NAMESPACE
    temporal_api_key: SecretStr | None = Field(default=None, repr=False)
    temporal_tls: bool | TLSConfig = Field(default=False, repr=False)
    temporal_rpc_metadata: dict[str, str] = Field(default_factory=dict[str, str], repr=False)
    task_queue: str = Field(default="agentflow", validation_alias="AGENTFLOW_TASK_QUEUE")
    slack_bot_token: str | None = Field(
        default=None, validation_alias="SLACK_BOT_TOKEN", repr=False
    )
    slack_signing_secret: str | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET", repr=False
    )
    slack_app_token: str | None = Field(
        default=None, validation_alias="SLACK_APP_TOKEN", repr=False
    )
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    slack_chat_agent: str | None = Field(
        default=None, validation_alias="AGENTFLOW_SLACK_CHAT_AGENT"
    )
    """The registered agent employees chat with in a Slack DM (``None``: no Slack chat)."""
    public_url: str | None = Field(default=None, validation_alias="AGENTFLOW_PUBLIC_URL")
    auditors: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="AGENTFLOW_AUDITORS"
    )
    oidc_issuer: str | None = Field(default=None, validation_alias="AGENTFLOW_OIDC_ISSUER")
    oidc_client_id: str | None = Field(default=None, validation_alias="AGENTFLOW_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(
        default=None, validation_alias="AGENTFLOW_OIDC_CLIENT_SECRET", repr=False
    )
    oidc_claim: str = Field(default="sub", validation_alias="AGENTFLOW_OIDC_CLAIM")
    session_secret: SecretStr | None = Field(
        default=None, validation_alias="AGENTFLOW_SESSION_SECRET", repr=False
    )
    identity_header: str | None = Field(default=None, validation_alias="AGENTFLOW_IDENTITY_HEADER")
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="AGENTFLOW_TRUSTED_PROXIES"
    )
    proxy_secret: SecretStr | None = Field(
        default=None, validation_alias="AGENTFLOW_PROXY_SECRET", repr=False
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="AGENTFLOW_ALLOWED_HOSTS"
    )

    @field_validator("auditors", "trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Variables(settings_cls), _Temporal(settings_cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApprovalSettings:
        """The settings ``environ`` describes (default: ``os.environ``), and nothing else.

        Raises:
            ConfigurationError: ``TEMPORAL_*`` or the Temporal profile cannot be used.
        """
        token = _environ.set(environ)
        try:
            return cls()
        finally:
            _environ.reset(token)

    def temporal(self) -> TemporalConfig:
        """The Temporal connection these settings describe: ``await settings.temporal().connect()``.

        Raises:
            ConfigurationError: The address or namespace is malformed.
        """
        return TemporalConfig.build(
            address=self.temporal_address,
            namespace=self.temporal_namespace,
            api_key=self.temporal_api_key,
            tls=self.temporal_tls,
            rpc_metadata=self.temporal_rpc_metadata,
        )

    def with_temporal(self, address: str | None, namespace: str | None) -> ApprovalSettings:
        """These settings with the address and namespace given (command-line options) instead."""
        update = {"temporal_address": address, "temporal_namespace": namespace}
        return self.model_copy(update={k: v for k, v in update.items() if v is not None})

    @property
    def audit_database_url(self) -> str:
        """Where ``configure_tracing`` writes the trail: ``DATABASE_URL``, else its own default."""
        folder = {DATA_DIR_ENV: str(self.data_dir)}
        if self.database_url == application_database_url(folder):
            return audit_database_default(folder)
        return self.database_url

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    def engine(self) -> Engine:
        """The database engine, made as the audit store makes its own.

        A SQLite file's directory is created if missing, and the file is shared in WAL mode
        with a 30-second busy timeout: a worker, the inbox and a CLI command write to it at
        once, and SQLite's default of 5 seconds refused a decision on a busy machine
        ("database is locked"). ``postgresql://`` means psycopg 3.
        """
        return create_store_engine(self.database_url)

    def slack_client(self) -> AsyncWebClient:
        if self.slack_bot_token is None:
            raise ConfigurationError("Slack is not configured: set SLACK_BOT_TOKEN")
        from slack_sdk.web.async_client import AsyncWebClient

        if self.slack_api_url:
            base = self.slack_api_url.rstrip("/") + "/"
            return AsyncWebClient(token=self.slack_bot_token, base_url=base)
        return AsyncWebClient(token=self.slack_bot_token)


def approval_channel(
    settings: ApprovalSettings,
    engine: Engine,
    *,
    ledger: ApprovalLedger | None = None,
    summarise: Summariser = default_summary,
) -> ApprovalChannel:
    """The channel a worker should pass to ``create_worker(channel=...)``.

    Records every notice in the ledger, then posts to Slack when ``SLACK_BOT_TOKEN`` is set;
    otherwise logs (approvers then use the web inbox or ``agentflow approvals``).
    """
    then: ApprovalChannel = LogChannel()
    if settings.slack_enabled:
        from agentflow.approvals.slack.channel import SlackChannel

        then = SlackChannel(
            settings.slack_client(),
            OrgChart(engine),
            summarise=summarise,
            public_url=settings.public_url,
        )
    return LedgerChannel(ledger or ApprovalLedger(engine), then)


class WorkerApprovals(TypedDict):
    """The approval options of ``create_worker``: ``create_worker(..., **worker_approvals(s))``."""

    channel: ApprovalChannel
    org: OrgChart


def worker_approvals(
    settings: ApprovalSettings,
    engine: Engine | None = None,
    *,
    ledger: ApprovalLedger | None = None,
    summarise: Summariser = default_summary,
) -> WorkerApprovals:
    """What a worker needs for approvals: where notices go, and who stands in for whom.

    The channel is `approval_channel` (the ledger, then Slack when ``SLACK_BOT_TOKEN`` is
    set, else the log); the org chart lets the approval workflow verify a delegate's vote.
    """
    engine = engine or settings.engine()
    channel = approval_channel(settings, engine, ledger=ledger, summarise=summarise)
    return WorkerApprovals(channel=channel, org=OrgChart(engine))


async def build_desk(
    settings: ApprovalSettings,
    engine: Engine | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
) -> ApprovalDesk:
    """Connect to Temporal and open the org chart: what every channel decides with.

    With ``tracer_provider`` (see [`agentflow.audit.configure_tracing`][]) every vote the desk
    hands on, accepted or refused by the workflow, and every decision the desk refuses itself,
    is a span in the conversation's trace.
    """
    from agentflow.temporal.client import AgentClient

    engine = engine or settings.engine()
    client = await settings.temporal().connect()
    agents = AgentClient(client, task_queue=settings.task_queue, tracer_provider=tracer_provider)
    return ApprovalDesk(agents, OrgChart(engine))


def web_authenticator(settings: ApprovalSettings) -> Authenticator:
    """Who the web app believes, from the settings (see the variables above).

    OpenID Connect sign-in when ``AGENTFLOW_OIDC_ISSUER`` is set; else the header a proxy sets
    when ``AGENTFLOW_IDENTITY_HEADER`` is (believed from ``AGENTFLOW_TRUSTED_PROXIES``, or with
    ``AGENTFLOW_PROXY_SECRET``, or else from a proxy on this machine); else ``?as=``, which
    answers only requests from this machine.

    Raises:
        ConfigurationError: Both kinds are configured, or one only in part.
    """
    from agentflow.web.identity import DevIdentity, header_identity

    if settings.oidc_issuer and settings.identity_header:
        raise ConfigurationError(
            "AGENTFLOW_OIDC_ISSUER and AGENTFLOW_IDENTITY_HEADER are both set: choose one way "
            "of identifying people"
        )
    if settings.oidc_issuer:
        return _oidc(settings, settings.oidc_issuer)
    if settings.identity_header:
        secret = settings.proxy_secret
        return header_identity(
            settings.identity_header,
            proxies=settings.trusted_proxies or None,
            secret=secret.get_secret_value() if secret is not None else None,
        )
    return DevIdentity()


def _oidc(settings: ApprovalSettings, issuer: str) -> Authenticator:
    from agentflow.web.oidc import CALLBACK_PATH, OIDCSignIn

    if not settings.oidc_client_id:
        raise ConfigurationError(
            "AGENTFLOW_OIDC_ISSUER is set but AGENTFLOW_OIDC_CLIENT_ID is not: register the app "
            "with the provider and set both"
        )
    public = settings.public_url
    session = settings.session_secret
    client_secret = settings.oidc_client_secret
    return OIDCSignIn(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        client_secret=client_secret.get_secret_value() if client_secret is not None else None,
        claim=settings.oidc_claim,
        # Without a shared secret, sessions last as long as this process.
        session_secret=(
            session.get_secret_value() if session is not None else secrets.token_urlsafe(32)
        ),
        redirect_uri=public.rstrip("/") + CALLBACK_PATH if public else None,
        secure_cookie=public is not None and urlsplit(public).scheme == "https",
    )


def build_web_app(
    settings: ApprovalSettings,
    desk: ApprovalDesk,
    *,
    summarise: Summariser = default_summary,
    audit: AuditStore | None = None,
    identify: Identify | Authenticator | None = None,
    allowed_hosts: Sequence[str] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """The web app with the Slack endpoint when Slack is configured for HTTP.

    With ``audit`` (``AuditStore(settings.audit_database_url)``), it also serves each
    conversation's timeline to its user, its approvers and ``AGENTFLOW_AUDITORS``. ``identify``
    says who is asking (default: `web_authenticator`); ``allowed_hosts`` the ``Host``
    names it answers to (see `agentflow.web.hosts`; ``agentflow approvals serve`` gives
    them). ``tracer_provider`` (the desk's) records each Slack request the endpoint rejects.
    """
    from agentflow.approvals.slack.interactions import SlackInteractions
    from agentflow.web.app import create_app

    slack = None
    chat = None
    if settings.slack_enabled and settings.slack_app_token is None:
        if settings.slack_signing_secret is None:
            raise ConfigurationError(
                "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: Slack's requests "
                "cannot be verified (or set SLACK_APP_TOKEN to use Socket Mode)"
            )
        slack = SlackInteractions(desk, settings.slack_client())
        chat = build_slack_chat(settings, desk, tracer_provider=tracer_provider)
    return create_app(
        desk,
        slack=slack,
        slack_chat=chat,
        signing_secret=settings.slack_signing_secret,
        summarise=summarise,
        audit=audit,
        auditors=settings.auditors,
        identify=identify if identify is not None else web_authenticator(settings),
        allowed_hosts=allowed_hosts,
        tracer_provider=tracer_provider,
    )


def build_slack_chat(
    settings: ApprovalSettings,
    desk: ApprovalDesk,
    *,
    tracer_provider: TracerProvider | None = None,
) -> SlackChat | None:
    """The Slack DM chat with ``AGENTFLOW_SLACK_CHAT_AGENT``, when that and Slack are set.

    The agent must be registered on the workers of ``AGENTFLOW_TASK_QUEUE`` (the desk's).
    """
    if not settings.slack_enabled or not settings.slack_chat_agent:
        return None
    from agentflow.web.slack_chat import SlackChat

    return SlackChat(
        desk.agents,
        settings.slack_chat_agent,
        desk.org,
        settings.slack_client(),
        desk=desk,
        tracer_provider=tracer_provider,
    )
