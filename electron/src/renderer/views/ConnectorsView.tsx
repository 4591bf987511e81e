import { useCallback, useEffect, useState } from "react";

import { errorMessage, type HostClient } from "../api/hostClient";
import type { Account, PluginInfo } from "../api/types";
import { useJobs } from "../store/jobsStore";
import { usePlugins } from "../store/pluginsStore";
import { useServer } from "../store/serverStore";
import { ErrorNote, formatTime, NeedsServer } from "./common";
import { disconnectGoogle, GOOGLE_CALENDAR, GoogleSignIn } from "./GoogleSignIn";
import { initialValues, isSecret, SchemaFields, toJson } from "./SchemaForm";

function AccountForm({ plugin, client, onDone }: { plugin: PluginInfo; client: HostClient; onDone: () => void }) {
  const schema = plugin.account_schema!;
  const [accountId, setAccountId] = useState("");
  const [values, setValues] = useState(() => initialValues(schema));
  const [error, setError] = useState<string>();

  async function onSubmit(event: React.FormEvent) {
    event.preventDefault();
    try {
      await client.post(`/plugins/${plugin.name}/accounts`, { account_id: accountId, settings: toJson(schema, values) });
      setAccountId("");
      setValues(initialValues(schema));
      setError(undefined);
      onDone();
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }

  return (
    <form className="account-form" onSubmit={onSubmit} data-testid={`account-form-${plugin.name}`}>
      <h4>Add an account</h4>
      <label className="field">
        <span>Account name *</span>
        <input required data-testid="account-id" value={accountId} onChange={(event) => setAccountId(event.target.value)} />
      </label>
      <SchemaFields schema={schema} values={values} onChange={setValues} testIdPrefix="account-field" />
      <button type="submit" data-testid="account-add">
        Add
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

function AccountRow({ plugin, account, client, reload }: { plugin: PluginInfo; account: Account; client: HostClient; reload: () => void }) {
  const submit = useJobs((state) => state.submit);
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<string>();
  const [fixing, setFixing] = useState(false);
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const syncType = plugin.job_types.find((type) => type.name === `${plugin.name}.sync`);
  const path = `/plugins/${plugin.name}/accounts/${encodeURIComponent(account.account_id)}`;
  const secretFields = Object.entries(plugin.account_schema?.properties ?? {}).filter(([, schema]) => isSecret(schema));

  async function act(what: () => Promise<string | undefined>) {
    setError(undefined);
    setNote(undefined);
    try {
      setNote(await what());
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      reload(); // a test or sync may have changed the account's status either way
    }
  }

  const sync = () => act(async () => (await submit(syncType!.name, { account_id: account.account_id }), "Sync started."));

  return (
    <li className="account" data-testid="account" data-account-id={account.account_id}>
      <div className="job-head">
        <strong>{account.account_id}</strong>
        <span className={`badge badge-${account.status}`} data-testid="account-status">
          {account.status}
        </span>
        <span className="muted" data-testid="account-last-sync">
          {account.last_sync
            ? `last sync ${account.last_sync.status} ${formatTime(account.last_sync.finished_at)}, ${account.last_sync.items} items`
            : "never synced"}
        </span>
      </div>
      {account.last_sync?.error && <div className="error">Last sync: {String(account.last_sync.error.message ?? "it failed")}</div>}
      {account.status === "needs_reauth" && (
        <div className="error" data-testid="account-needs-reauth">
          Sign-in needed: {account.status_reason ?? "the service refused the stored credentials."}{" "}
          {plugin.name === GOOGLE_CALENDAR ? (
            "Use “Connect Google Calendar” below."
          ) : (
            <button className="small" data-testid="account-fix" onClick={() => setFixing(true)}>
              Sign in again
            </button>
          )}
        </div>
      )}
      <div className="buttons">
        <button className="small" data-testid="account-test" onClick={() => act(async () => {
          const result = await client.post<{ ok: boolean; reason: string | null }>(`${path}/test`);
          if (!result.ok) throw new Error(`Test failed: ${result.reason}`);
          return "The connection works.";
        })}>
          Test
        </button>
        {syncType && (
          <button className="small" data-testid="account-sync" onClick={sync}>
            Sync now
          </button>
        )}
        <button className="small" data-testid="account-resync" onClick={() => act(async () => {
          await client.post(`${path}/resync`);
          if (syncType) await submit(syncType.name, { account_id: account.account_id });
          return "Full resync started.";
        })}>
          Resync
        </button>
        {plugin.name === GOOGLE_CALENDAR && account.status !== "needs_reauth" && (
          <button className="small" data-testid="account-disconnect" onClick={() => act(() => disconnectGoogle(client, account.account_id))}>
            Disconnect
          </button>
        )}
        {secretFields.length > 0 && plugin.name !== GOOGLE_CALENDAR && (
          <button className="small" onClick={() => setFixing(!fixing)}>
            Credentials
          </button>
        )}
        <button className="small danger" data-testid="account-remove" onClick={() => {
          if (window.confirm(`Remove ${account.account_id} with its synced data?`)) void act(async () => (await client.delete(path), undefined));
        }}>
          Remove
        </button>
      </div>
      {fixing && (
        <form className="inline-form" onSubmit={(event) => {
          event.preventDefault();
          void act(async () => {
            await client.patch(path, { settings: secrets });
            setFixing(false);
            setSecrets({});
            return "Credentials saved.";
          });
        }}>
          {secretFields.map(([name, schema]) => (
            <label key={name} className="field">
              <span>{schema.title ?? name} {account.secrets[name]?.is_set ? "(set)" : "(not set)"}</span>
              <input type="password" data-testid={`account-secret-${name}`} value={secrets[name] ?? ""} onChange={(event) => setSecrets({ ...secrets, [name]: event.target.value })} />
            </label>
          ))}
          <button type="submit" data-testid="account-secret-save">Save</button>
        </form>
      )}
      {note && <div className="note" data-testid="account-note">{note}</div>}
      <ErrorNote error={error} />
    </li>
  );
}

function PluginCard({ plugin, client }: { plugin: PluginInfo; client: HostClient }) {
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [error, setError] = useState<string>();
  const listeners = useJobs((state) => state.listeners);
  const hasAccounts = plugin.state === "loaded" && plugin.account_schema !== null;

  const reload = useCallback(() => {
    if (!hasAccounts) return;
    client
      .get<{ accounts: Account[] }>(`/plugins/${plugin.name}/accounts`)
      .then(({ accounts }) => (setAccounts(accounts), setError(undefined)))
      .catch((failure) => setError(errorMessage(failure)));
  }, [client, plugin.name, hasAccounts]);

  useEffect(() => {
    reload();
    // A sync ending or an account's status changing shows at once.
    const listener = (event: { type: string; plugin?: string }) => {
      if (event.type === "account.status" || event.type === "job.status" || event.type === `${plugin.name}.signed_in`) reload();
    };
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, [reload, listeners, plugin.name]);

  return (
    <div className="card" data-testid={`plugin-${plugin.name}`}>
      <div className="job-head">
        <h3>{plugin.name}</h3>
        <span className="muted">{plugin.version}</span>
        <span className={`badge badge-${plugin.state}`} data-testid="plugin-state">
          {plugin.state}
        </span>
      </div>
      {plugin.error && <div className="error">Failed to load: {plugin.error}</div>}
      {hasAccounts && (
        <>
          <ErrorNote error={error} />
          {accounts === null && <div className="empty">Loading accounts…</div>}
          {accounts?.length === 0 && <div className="empty">No accounts yet.</div>}
          <ul className="accounts">
            {accounts?.map((account) => (
              <AccountRow key={account.account_id} plugin={plugin} account={account} client={client} reload={reload} />
            ))}
          </ul>
          {plugin.name === GOOGLE_CALENDAR ? (
            <GoogleSignIn client={client} onSignedIn={reload} />
          ) : (
            <AccountForm plugin={plugin} client={client} onDone={reload} />
          )}
        </>
      )}
    </div>
  );
}

export function ConnectorsView() {
  const client = useServer((state) => state.client);
  const { plugins, loading, error, load } = usePlugins();
  useEffect(() => {
    if (client) void load(client);
  }, [client, load]);
  return (
    <section className="view">
      <h2>Connectors</h2>
      <NeedsServer>
        <ErrorNote error={error} />
        {loading && !plugins.length && <div className="empty">Loading plugins…</div>}
        {client && plugins.map((plugin) => <PluginCard key={plugin.name} plugin={plugin} client={client} />)}
      </NeedsServer>
    </section>
  );
}
