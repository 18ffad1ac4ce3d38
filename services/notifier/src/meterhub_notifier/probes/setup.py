"""Which probes run, from the service URLs and probe accounts in the settings.

A service is probed when its URL (FTPS: its account) is configured; a service with a URL but
no probe account is logged once and not probed, since a health check alone would measure the
wrong thing. Malformed probe accounts stop the service at start-up.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable

import httpx

from meterhub_notifier.clock import Clock
from meterhub_notifier.probes.base import (
    FtpsProbeConfig,
    HanProbeConfig,
    IngestProbeConfig,
    Probe,
    UsageProbeConfig,
    parse,
)
from meterhub_notifier.probes.tokens import TokenSource
from meterhub_notifier.probes.transactions import (
    FtpsLoginProbe,
    HanGetDevicesProbe,
    IngestStatusProbe,
    NotifierSelfCheckProbe,
    UsageReadProbe,
)
from meterhub_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


def build_probes(
    settings: NotifierSettings,
    client: httpx.AsyncClient,
    clock: Clock,
    ssl_context: ssl.SSLContext,
    local_self_check: Callable[[], Awaitable[tuple[bool, str]]],
) -> list[Probe]:
    credentials = settings.probe_credentials
    token_url = settings.effective_token_url
    probes: list[Probe] = []

    def tokens_for(
        config: UsageProbeConfig | IngestProbeConfig, service: str
    ) -> TokenSource | None:
        if token_url is None:
            log.warning("no token URL (usage-api URL) configured; %s is not probed", service)
            return None
        return TokenSource(
            client, token_url, config.client_id, config.client_secret.get_secret_value(), clock
        )

    def wanted(service: str) -> bool:
        url = settings.url_of(service)
        if url and service not in credentials:
            log.warning("no probe account for %s in probe_credentials; it is not probed", service)
        return bool(url) and service in credentials

    if wanted("usage-api"):
        usage = parse(UsageProbeConfig, credentials["usage-api"], "usage-api")
        tokens = tokens_for(usage, "usage-api")
        if tokens:
            probes.append(
                UsageReadProbe(client, settings.service_urls["usage-api"], tokens, usage, clock)
            )
    if wanted("ingest"):
        ingest = parse(IngestProbeConfig, credentials["ingest"], "ingest")
        tokens = tokens_for(ingest, "ingest")
        if tokens:
            probes.append(
                IngestStatusProbe(client, settings.service_urls["ingest"], tokens, ingest)
            )
    if wanted("han"):
        han = parse(HanProbeConfig, credentials["han"], "han")
        probes.append(HanGetDevicesProbe(client, settings.service_urls["han"], han, clock))
    if "ftps-publisher" in credentials:
        ftps = parse(FtpsProbeConfig, credentials["ftps-publisher"], "ftps-publisher")
        probes.append(FtpsLoginProbe(ftps, ssl_context, settings.probe_timeout_seconds))
    notifier_url = settings.url_of("notifier")
    probes.append(
        NotifierSelfCheckProbe(client=client, base_url=notifier_url)
        if notifier_url
        else NotifierSelfCheckProbe(local=local_self_check)
    )
    log.info("probes configured", extra={"services": [p.service for p in probes]})
    return probes
