import { useEffect, useState } from "react";

import { errorMessage } from "../api/hostClient";
import { usePlugins } from "../store/pluginsStore";
import { useServer } from "../store/serverStore";
import { ErrorNote, NeedsServer } from "./common";
import { initialValues, SchemaFields, toJson, type FormValues } from "./SchemaForm";

interface SettingsBody {
  host: { workers: number; max_queue_depth: number; schedules: Record<string, boolean> };
  plugins: Record<string, Record<string, unknown>>;
}

export function SettingsView() {
  const client = useServer((state) => state.client);
  const { plugins, load } = usePlugins();
  const [settings, setSettings] = useState<SettingsBody>();
  const [forms, setForms] = useState<Record<string, FormValues>>({});
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();

  useEffect(() => {
    if (!client) return;
    void load(client);
    client
      .get<SettingsBody>("/settings")
      .then(setSettings)
      .catch((failure) => setError(errorMessage(failure)));
  }, [client, load]);

  async function save(change: Partial<SettingsBody> | { host: Partial<SettingsBody["host"]> }) {
    if (!client) return;
    try {
      setSettings(await client.post<SettingsBody>("/settings", change));
      setError(undefined);
      setNote("Saved.");
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }

  const schedules = plugins.flatMap((plugin) => plugin.schedules.map((schedule) => ({ plugin, schedule })));
  return (
    <section className="view">
      <h2>Settings</h2>
      <NeedsServer>
        <ErrorNote error={error} />
        {note && <div className="note">{note}</div>}
        {!settings && <div className="empty">Loading settings…</div>}
        {settings && (
          <>
            <div className="card">
              <h3>Schedules</h3>
              {!schedules.length && <div className="empty">No plugin declares a schedule.</div>}
              {schedules.map(({ schedule }) => {
                const on = settings.host.schedules[schedule.id] ?? schedule.enabled_by_default;
                return (
                  <label key={schedule.id} className="field checkbox">
                    <input type="checkbox" checked={on} onChange={() => save({ host: { schedules: { [schedule.id]: !on } } })} />
                    {schedule.id} <span className="muted">{schedule.cron ?? `every ${schedule.interval} s`}</span>
                  </label>
                );
              })}
            </div>
            {plugins
              .flatMap((plugin) => (plugin.settings_schema ? [{ plugin, schema: plugin.settings_schema }] : []))
              .map(({ plugin, schema }) => {
                const values = forms[plugin.name] ?? initialValues(schema, settings.plugins[plugin.name]);
                return (
                  <form
                    key={plugin.name}
                    className="card"
                    onSubmit={(event) => {
                      event.preventDefault();
                      void save({ plugins: { [plugin.name]: toJson(schema, values) } });
                    }}
                  >
                    <h3>{plugin.name}</h3>
                    <SchemaFields
                      schema={schema}
                      values={values}
                      onChange={(next) => setForms({ ...forms, [plugin.name]: next })}
                      testIdPrefix={`settings-${plugin.name}`}
                    />
                    <button type="submit">Save</button>
                  </form>
                );
              })}
          </>
        )}
      </NeedsServer>
    </section>
  );
}
