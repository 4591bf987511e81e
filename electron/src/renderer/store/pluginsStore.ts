/** The plugins the host found (GET /plugins): job types for the jobs form, accounts, settings. */

import { create } from "zustand";

import { errorMessage, type HostClient } from "../api/hostClient";
import type { PluginInfo } from "../api/types";

interface PluginsStore {
  plugins: PluginInfo[];
  loading: boolean;
  error: string | undefined;
  load(client: HostClient): Promise<void>;
}

export const usePlugins = create<PluginsStore>((set) => ({
  plugins: [],
  loading: false,
  error: undefined,
  async load(client) {
    set({ loading: true });
    try {
      const { plugins } = await client.get<{ plugins: PluginInfo[] }>("/plugins");
      set({ plugins, error: undefined });
    } catch (error) {
      set({ error: errorMessage(error) });
    } finally {
      set({ loading: false });
    }
  },
}));
