export { DEFAULT_RESTART, HostSupervisor, type RestartPolicy, type SupervisorOptions } from "./supervisor.js";
export { developmentRuntime, packagedRuntime, type Runtime, RuntimeNotFound } from "./runtime.js";
export { LogBuffer, RotatingLogFile } from "./logs.js";
export { PidFile } from "./pidFile.js";
export { parseReadyLine, type ReadyInfo } from "./readyLine.js";
