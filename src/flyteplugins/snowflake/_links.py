"""Snowflake account identifiers: parse every form once, derive the host, the JWT issuer and Snowsight links.

Forms (Snowflake docs, "Account identifiers", docs.snowflake.com/en/user-guide/admin-account-identifier, and
"Connecting to your accounts", docs.snowflake.com/en/user-guide/organizations-connect):

- `orgname-account_name`                 host `orgname-account_name.snowflakecomputing.com` (preferred form)
- `locator`                              AWS US West (Oregon), the one region written without a region part
- `locator.region`                       AWS regions written without the cloud (us-east-1, eu-west-1, ...)
- `locator.region.cloud`                 every other region (`xy12345.us-east-2.aws`, `xy12345.east-us-2.azure`)
- any of the above + `.privatelink`      private connectivity; a locator host is then `locator.region.privatelink`

A host or URL pasted by mistake (`https://xy12345.us-east-1.snowflakecomputing.com/`, a Snowsight URL) is
accepted and normalised: the mistake is common and its meaning is not ambiguous. A URL carrying a user name or
password (`https://USER:secret@...`) is refused, without repeating it: credentials are Flyte secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .errors import SnowflakeConfigError

__all__ = ["AccountIdentifier"]

_DOMAINS = (".snowflakecomputing.com", ".snowflakecomputing.cn")
_CLOUDS = frozenset({"aws", "azure", "gcp"})
# AWS regions whose locator identifier carries no `.aws` (docs: "Non-VPS account locator formats by cloud
# platform and region"); Snowsight's URLs use the same spelling (`app.snowflake.com/us-east-1/xy12345`).
_AWS_REGIONS_WITHOUT_CLOUD = frozenset(
    {"us-west-2", "us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2"}
)
_DEFAULT_REGION = "us-west-2"  # a bare locator lives in AWS US West (Oregon)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_LOCATOR = re.compile(r"[a-z0-9_]+")
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

_EXPECTED = (
    "expected 'orgname-account_name' (preferred; SELECT CURRENT_ORGANIZATION_NAME() || '-' || "
    "CURRENT_ACCOUNT_NAME() shows it), or a locator: 'xy12345', 'xy12345.us-east-1', 'xy12345.us-east-2.aws'; "
    "any of them may end with '.privatelink'"
)


@dataclass(frozen=True)
class AccountIdentifier:
    """One Snowflake account, in either naming scheme. Build it with `AccountIdentifier.parse`.

    Attributes:
        org: organization name (org form only), lower case.
        name: account name within the organization (org form only), lower case.
        locator: account locator (locator form only), lower case.
        region: region id as written in the identifier (`us-east-1`, `east-us-2`), locator form only.
        cloud: `aws`, `azure` or `gcp` when written in the identifier.
        privatelink: the account is reached through private connectivity.
    """

    org: str | None = None
    name: str | None = None
    locator: str | None = None
    region: str | None = None
    cloud: str | None = None
    privatelink: bool = False

    @classmethod
    def parse(cls, account: str) -> AccountIdentifier:
        """Parse an account identifier, a host or a URL.

        Raises:
            SnowflakeConfigError: when it is none of the documented forms (the message lists them).

        Example:
            >>> AccountIdentifier.parse("XY12345.us-east-2.aws").host
            'xy12345.us-east-2.aws.snowflakecomputing.com'
        """
        if not isinstance(account, str) or not account.strip().strip("'\""):
            raise SnowflakeConfigError(f"account is empty: {_EXPECTED}")
        if "@" in account:
            # Only a URL's user name and password come before an '@'; the value is not repeated in the message.
            raise SnowflakeConfigError(
                "account holds a user name or password (an '@' before the host; the value is not shown): the "
                "account is stored in plain text in the task; give the identifier alone, e.g. 'myorg-myaccount', "
                "and the credentials as Flyte secrets on the task (snowflake_private_key=..., snowflake_password=...)"
            )
        text = account.strip().strip("'\"").strip().lower()
        parsed = _from_snowsight_url(text) or _from_identifier(_strip_host(text))
        if parsed is None:
            raise SnowflakeConfigError(
                f"account {account.strip()!r} is not a Snowflake account identifier: {_EXPECTED}"
            )
        return parsed

    @staticmethod
    def is_written_as_url(account: str) -> bool:
        """True when `account` is a host name or URL rather than a bare identifier (normalise it with `parse`)."""
        text = account.strip().strip("'\"").strip().lower()
        return "/" in text or ":" in text or text.endswith(_DOMAINS)

    @property
    def is_org_form(self) -> bool:
        """True for `orgname-account_name`, False for the locator forms."""
        return self.org is not None

    @property
    def identifier(self) -> str:
        """The normalised identifier, what `snowflake.connector.connect(account=...)` expects."""
        base = (
            f"{self.org}-{self.name}" if self.is_org_form else ".".join(_present(self.locator, self.region, self.cloud))
        )
        return f"{base}.privatelink" if self.privatelink else base

    @property
    def host(self) -> str:
        """The account's host name (what the driver connects to unless `host` is set)."""
        tld = "cn" if (self.region or "").startswith("cn-") else "com"
        if self.is_org_form:
            return f"{self.identifier}.snowflakecomputing.{tld}"
        if self.privatelink:
            # Private connectivity hosts drop the cloud and always name the region (organizations-connect).
            return f"{self.locator}.{self.region or _DEFAULT_REGION}.privatelink.snowflakecomputing.{tld}"
        return f"{self.identifier}.snowflakecomputing.{tld}"

    @property
    def jwt_account(self) -> str:
        """The account part of a key-pair JWT issuer/subject: no region, cloud or privatelink, upper case.

        The same value the driver computes (auth/keypair.py `prepare`), so our tokens and its agree.
        """
        first = f"{self.org}-{self.name}" if self.is_org_form else str(self.locator)
        return first.upper()

    @property
    def snowsight_account_path(self) -> str:
        """The two path segments Snowsight uses for this account: `org/account` or `region[.cloud]/locator`."""
        if self.is_org_form:
            return f"{self.org}/{self.name}"
        return f"{self._snowsight_region()}/{self.locator}"

    def snowsight_query_url(self, query_id: str) -> str:
        """Link to a query's page in Snowsight (Monitoring » Query History » the query).

        `https://app.snowflake.com/<org>/<account>/#/compute/history/queries/<id>/detail`, or
        `https://app.snowflake.com/<region[.cloud]>/<locator>/#/...` for locator forms. With private
        connectivity the Snowsight host is `app-<org>-<account>.privatelink.snowflakecomputing.com` or
        `app.<region>.privatelink.snowflakecomputing.com` ("Signing in to Snowsight", ui-snowsight-gs); the
        path after it is assumed to be the same as on app.snowflake.com.
        """
        page = f"#/compute/history/queries/{quote(query_id, safe='')}/detail"
        return f"{self._snowsight_base()}/{self.snowsight_account_path}/{page}"

    def _snowsight_region(self) -> str:
        region = self.region or _DEFAULT_REGION
        if self.cloud is None or (self.cloud == "aws" and region in _AWS_REGIONS_WITHOUT_CLOUD):
            return region
        return f"{region}.{self.cloud}"

    def _snowsight_base(self) -> str:
        if not self.privatelink:
            return "https://app.snowflake.com"
        if self.is_org_form:
            return f"https://app-{self.org}-{self.name}.privatelink.snowflakecomputing.com"
        return f"https://app.{self.region or _DEFAULT_REGION}.privatelink.snowflakecomputing.com"


def _present(*parts: str | None) -> list[str]:
    return [p for p in parts if p]


def _strip_host(text: str) -> str:
    """`https://x.snowflakecomputing.com:443/path` -> `x`; a bare identifier comes back unchanged.

    A URL or host:port that is not on a Snowflake domain gives "" (rejected), so `https://example.com` is
    not read as locator `example` in region `com`.
    """
    url_like = "://" in text or "/" in text or ":" in text
    host = (urlsplit(text if "://" in text else f"//{text}").hostname or "") if url_like else text
    for domain in _DOMAINS:
        if host.endswith(domain):
            return host[: -len(domain)]
    return "" if url_like else host


def _from_snowsight_url(text: str) -> AccountIdentifier | None:
    """`https://app.snowflake.com/<org>/<account>/...` or `.../<region[.cloud]>/<locator>/...`."""
    if "app.snowflake.com/" not in text:
        return None
    segments = [s for s in text.split("app.snowflake.com/", 1)[1].split("#", 1)[0].split("/") if s]
    if len(segments) < 2:
        return None
    first, second = segments[0], segments[1]
    if "-" in first:  # regions always contain a hyphen; organization names never do
        return _from_identifier(f"{second}.{first}")
    return _from_identifier(f"{first}-{second}")


def _from_identifier(text: str) -> AccountIdentifier | None:
    parts = text.split(".")
    privatelink = parts[-1] == "privatelink"
    if privatelink:
        parts = parts[:-1]
    if not parts or not all(parts):
        return None
    if len(parts) == 1 and "-" in parts[0]:
        return _org_form(parts[0], privatelink)
    return _locator_form(parts, privatelink)


def _org_form(label: str, privatelink: bool) -> AccountIdentifier | None:
    org, _, name = label.partition("-")
    if not (_NAME.fullmatch(org) and re.fullmatch(r"[a-z0-9_-]+", name)):
        return None
    return AccountIdentifier(org=org, name=name, privatelink=privatelink)


def _locator_form(parts: list[str], privatelink: bool) -> AccountIdentifier | None:
    if len(parts) > 3 or not _LOCATOR.fullmatch(parts[0]):
        return None
    region = parts[1] if len(parts) > 1 else None
    cloud = parts[2] if len(parts) > 2 else None
    if region is not None and not _REGION.fullmatch(region):
        return None
    if cloud is not None and cloud not in _CLOUDS:
        return None
    return AccountIdentifier(locator=parts[0], region=region, cloud=cloud, privatelink=privatelink)
