import type { PythonServerApi } from "../shared/contract";

declare global {
  interface Window {
    pythonServer: PythonServerApi;
  }
}
