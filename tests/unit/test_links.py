"""_links.AccountIdentifier: every account form -> identifier, host, JWT account, Snowsight link."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from flyteplugins.snowflake._links import AccountIdentifier
from flyteplugins.snowflake.errors import SnowflakeConfigError

QID = "01b2c3d4-0000-1234-0000-000100020003"
TAIL = f"/#/compute/history/queries/{QID}/detail"

# account as written -> (identifier, host, jwt account, Snowsight query URL)
FORMS = {
    "myorg-myaccount": (
        "myorg-myaccount",
        "myorg-myaccount.snowflakecomputing.com",
        "MYORG-MYACCOUNT",
        "https://app.snowflake.com/myorg/myaccount" + TAIL,
    ),
    "myorg-my_account": (
        "myorg-my_account",
        "myorg-my_account.snowflakecomputing.com",
        "MYORG-MY_ACCOUNT",
        "https://app.snowflake.com/myorg/my_account" + TAIL,
    ),
    "myorg-myaccount.privatelink": (
        "myorg-myaccount.privatelink",
        "myorg-myaccount.privatelink.snowflakecomputing.com",
        "MYORG-MYACCOUNT",
        "https://app-myorg-myaccount.privatelink.snowflakecomputing.com/myorg/myaccount" + TAIL,
    ),
    "xy12345": (
        "xy12345",
        "xy12345.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/us-west-2/xy12345" + TAIL,
    ),
    "xy12345.us-east-1": (
        "xy12345.us-east-1",
        "xy12345.us-east-1.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/us-east-1/xy12345" + TAIL,
    ),
    "xy12345.eu-central-1": (
        "xy12345.eu-central-1",
        "xy12345.eu-central-1.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/eu-central-1/xy12345" + TAIL,
    ),
    "xy12345.us-east-2.aws": (
        "xy12345.us-east-2.aws",
        "xy12345.us-east-2.aws.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/us-east-2.aws/xy12345" + TAIL,
    ),
    "xy12345.ap-northeast-1.aws": (
        "xy12345.ap-northeast-1.aws",
        "xy12345.ap-northeast-1.aws.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/ap-northeast-1.aws/xy12345" + TAIL,
    ),
    # a redundant `.aws` on a region written without it still links to the Snowsight spelling
    "xy12345.us-east-1.aws": (
        "xy12345.us-east-1.aws",
        "xy12345.us-east-1.aws.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/us-east-1/xy12345" + TAIL,
    ),
    "xy12345.east-us-2.azure": (
        "xy12345.east-us-2.azure",
        "xy12345.east-us-2.azure.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/east-us-2.azure/xy12345" + TAIL,
    ),
    "xy12345.us-central1.gcp": (
        "xy12345.us-central1.gcp",
        "xy12345.us-central1.gcp.snowflakecomputing.com",
        "XY12345",
        "https://app.snowflake.com/us-central1.gcp/xy12345" + TAIL,
    ),
    "xy12345.us-east-1.privatelink": (
        "xy12345.us-east-1.privatelink",
        "xy12345.us-east-1.privatelink.snowflakecomputing.com",
        "XY12345",
        "https://app.us-east-1.privatelink.snowflakecomputing.com/us-east-1/xy12345" + TAIL,
    ),
    # private connectivity hosts drop the cloud and name the region even for Oregon
    "xy12345.us-east-2.aws.privatelink": (
        "xy12345.us-east-2.aws.privatelink",
        "xy12345.us-east-2.privatelink.snowflakecomputing.com",
        "XY12345",
        "https://app.us-east-2.privatelink.snowflakecomputing.com/us-east-2.aws/xy12345" + TAIL,
    ),
    "xy12345.privatelink": (
        "xy12345.privatelink",
        "xy12345.us-west-2.privatelink.snowflakecomputing.com",
        "XY12345",
        "https://app.us-west-2.privatelink.snowflakecomputing.com/us-west-2/xy12345" + TAIL,
    ),
    "xy12345.cn-north-1.aws": (
        "xy12345.cn-north-1.aws",
        "xy12345.cn-north-1.aws.snowflakecomputing.cn",
        "XY12345",
        "https://app.snowflake.com/cn-north-1.aws/xy12345" + TAIL,
    ),
}


@pytest.mark.parametrize("account", list(FORMS))
def test_every_form(account: str) -> None:
    ident = AccountIdentifier.parse(account)
    identifier, host, jwt, url = FORMS[account]
    assert ident.identifier == identifier
    assert ident.host == host
    assert ident.jwt_account == jwt
    assert ident.snowsight_query_url(QID) == url


@pytest.mark.parametrize("account", list(FORMS))
def test_jwt_account_matches_the_driver(account: str, rsa_key: RSAPrivateKey) -> None:
    # The driver puts "<ACCOUNT>.<USER>" in the JWT subject, derived from the `account` it is given.
    from snowflake.connector.auth.keypair import AuthByKeyPair

    token = AuthByKeyPair(private_key=rsa_key).prepare(account=AccountIdentifier.parse(account).identifier, user="u")
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["sub"] == f"{AccountIdentifier.parse(account).jwt_account}.U"


@pytest.mark.parametrize(
    ("written", "identifier"),
    [
        ("  MyOrg-MyAccount  ", "myorg-myaccount"),
        ("'myorg-myaccount'", "myorg-myaccount"),
        ('"XY12345.US-EAST-2.AWS"', "xy12345.us-east-2.aws"),
        ("https://myorg-myaccount.snowflakecomputing.com", "myorg-myaccount"),
        ("https://myorg-myaccount.snowflakecomputing.com/", "myorg-myaccount"),
        ("myorg-myaccount.snowflakecomputing.com", "myorg-myaccount"),
        ("xy12345.us-east-1.snowflakecomputing.com", "xy12345.us-east-1"),
        ("https://xy12345.us-east-2.aws.snowflakecomputing.com:443/console", "xy12345.us-east-2.aws"),
        ("xy12345.us-east-1.privatelink.snowflakecomputing.com", "xy12345.us-east-1.privatelink"),
        ("https://app.snowflake.com/myorg/myaccount/#/homepage", "myorg-myaccount"),
        ("https://app.snowflake.com/us-east-2.aws/xy12345/worksheets", "xy12345.us-east-2.aws"),
        ("app.snowflake.com/us-west-2/xy12345", "xy12345.us-west-2"),
    ],
)
def test_pasted_hosts_and_urls_are_normalised(written: str, identifier: str) -> None:
    assert AccountIdentifier.parse(written).identifier == identifier


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "my org",
        "xy12345.us-east-2.aws.extra",
        "xy12345.us-east-2.oracle",
        "xy12345..aws",
        "myorg-myaccount.us-east-1",
        "-myaccount",
        "xy!2345",
        "https://example.com/x",
        "https://app.snowflake.com/",
    ],
)
def test_malformed_accounts_name_the_expected_forms(bad: str) -> None:
    with pytest.raises(SnowflakeConfigError) as info:
        AccountIdentifier.parse(bad)
    message = str(info.value)
    assert "orgname-account_name" in message and "xy12345.us-east-2.aws" in message


def test_non_string_is_a_config_error() -> None:
    with pytest.raises(SnowflakeConfigError):
        AccountIdentifier.parse(None)  # type: ignore[arg-type]


def test_query_id_is_escaped_in_the_link() -> None:
    url = AccountIdentifier.parse("myorg-acct").snowsight_query_url("a/b#c")
    assert url.endswith("/queries/a%2Fb%23c/detail")


def test_form_attributes() -> None:
    org = AccountIdentifier.parse("myorg-acct.privatelink")
    assert (org.is_org_form, org.org, org.name, org.privatelink) == (True, "myorg", "acct", True)
    loc = AccountIdentifier.parse("xy12345.east-us-2.azure")
    assert (loc.is_org_form, loc.locator, loc.region, loc.cloud) == (False, "xy12345", "east-us-2", "azure")
    assert loc.snowsight_account_path == "east-us-2.azure/xy12345"
