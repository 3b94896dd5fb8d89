"""Snowflake tasks on a real account, run remotely on a Flyte cluster, with key-pair authentication.

Set-up, once:

1. A key pair for the Snowflake user the tasks run as (https://docs.snowflake.com/en/user-guide/key-pair-auth):
   `openssl genrsa 2048 | openssl pkcs8 -topk8 -inform PEM -out rsa_key.p8 -nocrypt`, then
   `ALTER USER FLYTE_SVC SET RSA_PUBLIC_KEY='...'` with the public key.
2. The private key as a Flyte secret: `flyte create secret snowflake-private-key --from-file rsa_key.p8`
   (and, for an encrypted key, its passphrase as `snowflake-private-key-passphrase`).
3. The connector service deployed with this plugin installed (`pip install flyteplugins-snowflake`): the
   Snowflake tasks below run there, not in a container of their own.

Run: `python examples/real_account.py` (remote, with your flyte config), or locally against the real account
with `python examples/real_account.py --local` after `export SNOWFLAKE_PRIVATE_KEY="$(cat rsa_key.p8)"`
(in a local run, the secret `snowflake-private-key` is read from the environment variable SNOWFLAKE_PRIVATE_KEY).
"""

from __future__ import annotations

import datetime
import sys

import flyte
import pandas as pd

from flyteplugins.snowflake import Snowflake, SnowflakeConfig

config = SnowflakeConfig(
    account="myorg-myaccount",  # orgname-account_name; a locator such as "xy12345.us-east-1" works too
    user="FLYTE_SVC",
    database="ANALYTICS",
    schema="PUBLIC",
    warehouse="COMPUTE_WH",
    role="TRANSFORMER",
    # Added to each statement's QUERY_TAG next to the Flyte project, domain, run and action.
    query_tag={"team": "growth"},
    # Snowflake cancels a statement that runs longer than this (seconds).
    statement_timeout=3600,
)

daily_signups = Snowflake(
    name="daily_signups",
    query_template="""
        SELECT signup_date, country, COUNT(*) AS signups
        FROM users
        WHERE signup_date >= %(since)s AND country = %(country)s
        GROUP BY signup_date, country
        ORDER BY signup_date
    """,
    plugin_config=config,
    inputs={"since": datetime.date, "country": str},
    output_dataframe_type=pd.DataFrame,
    # The *names* of Flyte secrets, never their values.
    snowflake_private_key="snowflake-private-key",
    timeout=datetime.timedelta(hours=1),
)

# The Snowflake task runs in the connector service; its environment only names it for deployment.
snowflake_env = flyte.TaskEnvironment.from_task("snowflake_queries", daily_signups)

env = flyte.TaskEnvironment(
    name="signups_report",
    image=flyte.Image.from_debian_base().with_pip_packages("flyteplugins-snowflake[pandas]"),
    depends_on=[snowflake_env],
)


@env.task
async def summarize(signups: pd.DataFrame) -> str:
    return f"{int(signups['SIGNUPS'].sum())} signups over {signups['SIGNUP_DATE'].nunique()} days"


@env.task
async def signups_report(since: datetime.date, country: str) -> str:
    signups = await daily_signups(since=since, country=country)
    return await summarize(signups)


if __name__ == "__main__":
    local = "--local" in sys.argv[1:]
    flyte.init_from_config()
    since = datetime.date.today() - datetime.timedelta(days=7)
    run = flyte.with_runcontext(mode="local" if local else "remote").run(signups_report, since=since, country="NL")
    if local:
        print(run.outputs()[0])
    else:
        print(run.url)
        run.wait()
