"""Many companies in one sheet: a TOML keys file maps each ``customer_id`` to its API key.

LAC API keys are pinned to one company, so an accounting office holds one key per client::

    [customers."0123456-7"]
    account = "kahvila-aamukaste"     # the ledger remembers rows under this name
    env = "LAC_KEY_AAMUKASTE"         # the key is in this environment variable …

    [customers."2345678-1"]
    account = "rakennus-jarvinen"
    file = "keys/jarvinen.key"        # … or in this file (private; relative to the keys file)

The keys file itself holds no key, but it is refused like a key file when others can read it,
since it says where every key is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lac_batch.model.errors import UsageError
from lac_batch.sending.credentials import ApiKey, check_private_file, load_api_key
from lac_batch.settings.config import read_toml

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True)
class CompanyKey:
    customer_id: str
    account: str
    key: ApiKey


@dataclass(frozen=True)
class KeysFile:
    path: Path
    by_customer: dict[str, CompanyKey]

    @property
    def customers(self) -> frozenset[str]:
        return frozenset(self.by_customer)

    @property
    def keys(self) -> list[ApiKey]:
        return [entry.key for entry in self.by_customer.values()]


def _entry(path: Path, customer_id: str, fields: object, environ: Mapping[str, str]) -> CompanyKey:
    where = f"{path}: customer '{customer_id}'"
    if not isinstance(fields, dict):
        raise UsageError(f"{where} must be a table with account and env or file.")
    unknown = sorted(set(fields) - {"account", "env", "file"})
    if unknown:
        raise UsageError(f"{where} has unknown keys {unknown} (known: account, env, file).")
    account = fields.get("account")
    if not isinstance(account, str) or not account.strip():
        raise UsageError(f'{where} needs an account name (account = "...").')
    env_name, file_name = fields.get("env"), fields.get("file")
    if (env_name is None) == (file_name is None):
        raise UsageError(f'{where} needs exactly one of env = "VAR" or file = "PATH".')
    if file_name is not None:
        key_file = Path(str(file_name))
        key = load_api_key(key_file if key_file.is_absolute() else path.parent / key_file)
    else:
        if not environ.get(str(env_name), "").strip():
            raise UsageError(f"{where}: the environment variable {env_name} holds no API key.")
        key = load_api_key(None, environ, env_name=str(env_name))
    return CompanyKey(customer_id, account.strip(), key)


def load_keys_file(path: Path, environ: Mapping[str, str] | None = None) -> KeysFile:
    """Read and check the keys file; every problem is a UsageError naming the customer."""
    environ = os.environ if environ is None else environ
    check_private_file(path)
    data, _ = read_toml(path, "keys file")
    customers = data.get("customers")
    if set(data) - {"customers"} or not isinstance(customers, dict) or not customers:
        raise UsageError(
            f'{path}: a keys file has one [customers."<customer_id>"] table per company, '
            "each with account and env or file."
        )
    entries = {
        str(customer_id).strip(): _entry(path, str(customer_id), fields, environ)
        for customer_id, fields in customers.items()
    }
    accounts = [entry.account for entry in entries.values()]
    repeated = sorted({name for name in accounts if accounts.count(name) > 1})
    if repeated:
        raise UsageError(f"{path}: account names must differ per company; repeated: {repeated}.")
    return KeysFile(path, entries)
