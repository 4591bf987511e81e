/**
 * The host's records as the renderer uses them: the generated OpenAPI types (schema.d.ts,
 * `npm run gen:api`), with the JSON Schemas the host passes through typed for the forms.
 */

import type { components } from "./schema";

type Schemas = components["schemas"];

export type Job = Schemas["Job"];
export type JobStatus = Job["status"];
export type JobError = Schemas["JobErrorBody"];
export type Account = Schemas["AccountView"];
export type ActivityEvent = Schemas["ActivityEvent"];

/** An /events message: the common fields, and the ones its `type` adds. */
export type HostEvent = Schemas["Event"] & {
  status?: string;
  progress?: number;
  plugin?: string;
  account_id?: string;
};

export interface JsonSchema {
  type?: string;
  title?: string;
  description?: string;
  format?: string;
  writeOnly?: boolean;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
}

export type JobTypeInfo = Omit<Schemas["JobTypeInfo"], "payload_schema"> & { payload_schema: JsonSchema };

export type PluginInfo = Omit<Schemas["PluginInfo"], "job_types" | "settings_schema" | "account_schema"> & {
  job_types: JobTypeInfo[];
  settings_schema: JsonSchema | null;
  account_schema: JsonSchema | null;
};
