/**
 * The JSON shapes of the server routes (nbmodels/server/routes.py).
 */

/** Statuses of nbmodels.runs.rundir.STATUSES. */
export type RunStatus =
  | 'created'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'finished'
  | 'failed'
  | 'diverged'
  | 'interrupted';

/** One entry of `GET runs` (nbmodels.runs.run.list_runs). */
export interface IRunSummary {
  id: string;
  name: string;
  model: string;
  status: RunStatus;
  step: number;
  total_steps: number;
  metrics: Record<string, number>;
  eta_seconds: number | null;
  created: number;
  updated: number;
}

export interface IRunList {
  root: string;
  runs: IRunSummary[];
}

/** `GET runs/<id>` (Run.details()). */
export interface IRunDetails extends IRunSummary {
  message: string;
  epoch: number;
  validation: Record<string, number>;
  samples_per_second: number | null;
  checkpoint: string;
  config: Record<string, unknown>;
  summary: string;
  info: Record<string, unknown>;
}

/** One line of events.jsonl; see the schema in nbmodels/runs/rundir.py. */
export interface IRunEvent {
  type: string;
  time?: number;
  step?: number;
  epoch?: number;
  metrics?: Record<string, unknown>;
  [key: string]: unknown;
}

/** `GET runs/<id>/events?cursor=&limit=` */
export interface IEventPage {
  events: IRunEvent[];
  cursor: number;
  more: boolean;
}

export interface IDevice {
  kind: 'CPU' | 'GPU' | 'TPU';
  index: number;
  name: string;
  memory_total: number | null;
  memory_used: number | null;
  compute_capability: [number, number] | null;
  utilization: number | null;
  recommended_precision: string;
}

/** `GET devices` */
export interface IDeviceList {
  devices: IDevice[];
  cpu_only: boolean;
  error: string | null;
}
