/**
 * The Runs sidebar: every run under the runs root, live, and the devices of the server.
 *
 * Plain DOM in a Lumino widget. Rows are kept per run id and updated in place, so a click on
 * Stop is never lost to a redraw.
 */
import { Clipboard, Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  formatAgo,
  formatBytes,
  formatEta,
  formatMetric,
  formatMetrics,
  formatProgress,
  isActive,
  progressFraction
} from './format';
import { requestAPI } from './request';
import { EventCursor, MetricHistory, sparklinePoints } from './series';
import { IDeviceList, IEventPage, IRunDetails, IRunList, IRunSummary } from './types';

/** Poll intervals: fast while someone looks at the panel, slow otherwise. */
export const POLL_VISIBLE_MS = 2000;
export const POLL_HIDDEN_MS = 15000;
const DEVICES_EVERY = 5; // polls between device refreshes
const SVG = 'http://www.w3.org/2000/svg';

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/**
 * An SVG line chart of `values` (a sparkline when small). Drawn in a `width` × `height` box
 * that the CSS stretches to the panel's width (the stroke does not scale), so it never
 * overflows a narrow sidebar.
 */
function lineChart(values: number[], width: number, height: number, className: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', className);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const line = document.createElementNS(SVG, 'polyline');
  // One point so far (a single validation): a level line, not an empty box.
  const single = values.filter(v => Number.isFinite(v)).length === 1;
  line.setAttribute('points', single ? `0,${height / 2} ${width},${height / 2}` : sparklinePoints(values, width, height));
  svg.appendChild(line);
  return svg;
}

/** What the panel keeps per run: its event cursor and metric history. */
class RunTracker {
  readonly history = new MetricHistory();
  readonly cursor: EventCursor;
  caughtUp = false;
  seenUpdate = -1;

  constructor(readonly id: string) {
    this.cursor = new EventCursor((cursor, limit) =>
      requestAPI<IEventPage>(`runs/${encodeURIComponent(id)}/events?cursor=${cursor}&limit=${limit}`)
    );
  }

  /** Whether new events may be waiting: an active run, an unread backlog, or a newer status. */
  stale(run: IRunSummary): boolean {
    return !this.caughtUp || isActive(run.status) || run.updated !== this.seenUpdate;
  }

  async pull(run: IRunSummary): Promise<void> {
    const { events, caughtUp } = await this.cursor.pull();
    this.history.apply(events);
    this.caughtUp = caughtUp;
    this.seenUpdate = run.updated;
  }
}

/** One run's row: name, status badge, progress, sparkline, last metrics, Stop; the selected
 * row also holds the details, right under its head. */
class RunRow {
  readonly node = element('li', 'nbm-RunRow');
  private readonly head = element('div', 'nbm-RunRow-head');
  private readonly name = element('span', 'nbm-RunRow-name');
  private readonly status = element('span', 'nbm-RunRow-status');
  private readonly bar = element('div', 'nbm-RunRow-bar');
  private readonly fill = element('div', 'nbm-RunRow-barFill');
  private readonly step = element('span', 'nbm-RunRow-step');
  private readonly eta = element('span', 'nbm-RunRow-eta');
  private readonly metrics = element('div', 'nbm-RunRow-metrics');
  private readonly spark = element('div', 'nbm-RunRow-spark');
  readonly stop = element('button', 'jp-mod-styled jp-mod-warn nbm-RunRow-stop', 'Stop');

  constructor(readonly id: string) {
    this.node.dataset.runId = id;
    this.head.title = id;
    const top = element('div', 'nbm-RunRow-top');
    top.append(this.name, this.status);
    this.bar.appendChild(this.fill);
    const line = element('div', 'nbm-RunRow-line');
    line.append(this.step, this.eta, this.stop);
    this.head.append(top, this.bar, line, this.spark, this.metrics);
    this.node.append(this.head);
  }

  update(run: IRunSummary, tracker: RunTracker | undefined, selected: boolean): void {
    this.name.textContent = run.name || run.id;
    this.status.textContent = run.status;
    this.status.className = `nbm-RunRow-status nbm-status-${run.status}`;
    this.node.classList.toggle('nbm-mod-selected', selected);
    this.node.classList.toggle('nbm-mod-active', isActive(run.status));
    this.fill.style.width = `${(progressFraction(run.step, run.total_steps) * 100).toFixed(1)}%`;
    this.step.textContent = formatProgress(run.step, run.total_steps);
    this.eta.textContent = formatEta(run.status, run.eta_seconds);
    this.metrics.textContent = formatMetrics(run.metrics);
    this.stop.hidden = run.status !== 'running';
    const loss = tracker?.history.get('loss')?.values ?? [];
    this.spark.replaceChildren(lineChart(loss, 160, 24, 'nbm-Sparkline'));
  }
}

export interface IRunsPanelOptions {
  /** Called by a run's "Open in a notebook" button. */
  openRunInNotebook: (runId: string) => void;
  /** Called by the "Insert training dashboard" button. */
  insertDashboard: () => void;
}

/** The left-sidebar panel. */
export class RunsPanel extends Widget {
  private readonly rootLine = element('div', 'nbm-RunsPanel-root');
  private readonly list = element('ul', 'nbm-RunList');
  private readonly empty = element('div', 'nbm-RunsPanel-empty');
  private readonly insertButton = element('button', 'jp-mod-styled nbm-RunsPanel-insert', 'Insert training dashboard');
  private readonly details = element('div', 'nbm-Details');
  private readonly detailsBody = element('div', 'nbm-Details-body');
  // Created once, not per redraw, so a click is never lost to the next poll.
  private readonly openButton = element('button', 'jp-mod-styled jp-mod-accept nbm-Details-open', 'Open in a notebook');
  private readonly devices = element('div', 'nbm-Devices');
  private readonly error = element('div', 'nbm-RunsPanel-error');
  private readonly rows = new Map<string, RunRow>();
  private readonly trackers = new Map<string, RunTracker>();
  private runs: IRunSummary[] = [];
  private selected: string | null = null;
  private timer: number | undefined;
  private polls = 0;
  private polling: Promise<void> | null = null;

  constructor(private readonly options: IRunsPanelOptions) {
    super();
    this.id = 'nbmodels-runs';
    this.addClass('nbm-RunsPanel');
    this.title.caption = 'nbmodels runs';
    const runsHeader = element('h2', 'nbm-RunsPanel-header', 'Runs');
    const devicesHeader = element('h2', 'nbm-RunsPanel-header', 'Devices');
    this.insertButton.title =
      'Insert a cell that shows the TrainingDashboard (pick a recipe, Start, Stop, watch) into the current notebook';
    this.insertButton.addEventListener('click', () => this.options.insertDashboard());
    this.node.append(runsHeader, this.insertButton, this.rootLine, this.error, this.empty, this.list, devicesHeader, this.devices);
    this.details.append(this.openButton, this.detailsBody);
    this.details.hidden = true;
    this.openButton.addEventListener('click', () => {
      if (this.selected) {
        this.options.openRunInNotebook(this.selected);
      }
    });
    this.list.addEventListener('click', this.onClick);
    document.addEventListener('visibilitychange', this.onVisibility);
    this.schedule(0);
  }

  /** The run whose details are open, if any. */
  get selectedRun(): string | null {
    return this.selected;
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisibility);
    super.dispose();
  }

  /** Fetch everything now (and reschedule); concurrent calls share one fetch. */
  refresh(): Promise<void> {
    if (!this.polling) {
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedule(this.watched() ? POLL_VISIBLE_MS : POLL_HIDDEN_MS);
      });
    }
    return this.polling;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  private watched(): boolean {
    return this.isVisible && document.visibilityState === 'visible';
  }

  private schedule(delay: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.refresh(), delay);
  }

  private onVisibility = (): void => {
    if (this.watched()) {
      void this.refresh();
    }
  };

  private async poll(): Promise<void> {
    try {
      const listing = await requestAPI<IRunList>('runs');
      this.runs = listing.runs;
      this.rootLine.textContent = listing.root;
      await Promise.all(listing.runs.map(run => this.pullEvents(run)));
      this.error.textContent = '';
    } catch (error) {
      this.error.textContent = `Cannot read runs: ${(error as Error).message}`;
    }
    this.renderRuns();
    if (this.selected) {
      await this.renderDetails(this.selected);
    }
    if (this.polls++ % DEVICES_EVERY === 0) {
      await this.renderDevices();
    }
  }

  private async pullEvents(run: IRunSummary): Promise<void> {
    let tracker = this.trackers.get(run.id);
    if (!tracker) {
      tracker = new RunTracker(run.id);
      this.trackers.set(run.id, tracker);
    }
    if (tracker.stale(run)) {
      try {
        await tracker.pull(run);
      } catch {
        // A run deleted between the listing and this read: it drops out at the next listing.
      }
    }
  }

  private renderRuns(): void {
    const seen = new Set<string>();
    this.runs.forEach((run, position) => {
      seen.add(run.id);
      let row = this.rows.get(run.id);
      if (!row) {
        row = new RunRow(run.id);
        this.rows.set(run.id, row);
      }
      row.update(run, this.trackers.get(run.id), run.id === this.selected);
      if (this.list.children[position] !== row.node) {
        this.list.insertBefore(row.node, this.list.children[position] ?? null);
      }
    });
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.node.remove();
        this.rows.delete(id);
        this.trackers.delete(id);
      }
    }
    if (this.selected && !seen.has(this.selected)) {
      this.selected = null; // the run was deleted
    }
    // The details open inside the selected row, right under it, not below the whole list.
    const selectedRow = this.selected ? this.rows.get(this.selected) : undefined;
    if (selectedRow && this.details.parentNode !== selectedRow.node) {
      selectedRow.node.appendChild(this.details);
    }
    this.details.hidden = !selectedRow;
    this.empty.textContent = this.runs.length
      ? ''
      : 'No runs yet. nbmodels.train(...) in a notebook, or `nbmodels demo`, makes one.';
  }

  private onClick = (event: MouseEvent): void => {
    const target = event.target as HTMLElement;
    if (target.closest('.nbm-Details')) {
      return; // a click inside the open details (copy, open) is not a click on the row
    }
    const row = target.closest<HTMLElement>('.nbm-RunRow');
    const id = row?.dataset.runId;
    if (!id) {
      return;
    }
    if (target.closest('.nbm-RunRow-stop')) {
      void this.confirmStop(id);
      return;
    }
    this.selected = this.selected === id ? null : id;
    this.renderRuns();
    if (this.selected) {
      void this.renderDetails(this.selected);
    }
  };

  private async confirmStop(id: string): Promise<void> {
    const run = this.runs.find(r => r.id === id);
    const result = await showDialog({
      title: 'Stop this run?',
      body: `${run?.name ?? id} (${id}) stops after its current step, saves a checkpoint and ends "stopped". It can be resumed later.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop run' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await requestAPI(`runs/${encodeURIComponent(id)}/stop`, { method: 'POST' });
    } catch (error) {
      await showErrorMessage('Could not stop the run', error as Error);
    }
    await this.refresh();
  }

  private async renderDetails(id: string): Promise<void> {
    let run: IRunDetails;
    try {
      run = await requestAPI<IRunDetails>(`runs/${encodeURIComponent(id)}`);
    } catch (error) {
      this.detailsBody.replaceChildren(element('div', 'nbm-RunsPanel-error', (error as Error).message));
      return;
    }
    if (this.selected !== id) {
      return; // another run was clicked while this one loaded
    }
    const title = element('h3', 'nbm-Details-title', run.name);
    const summary = element('div', 'nbm-Details-summary', run.summary);
    const message = element('div', 'nbm-Details-message', run.message);

    const charts = element('div', 'nbm-Details-charts');
    const history = this.trackers.get(id)?.history;
    for (const name of history?.names() ?? []) {
      const values = history!.get(name)!.values;
      const chart = element('figure', 'nbm-Chart');
      const caption = element('figcaption', 'nbm-Chart-caption');
      const low = Math.min(...values);
      const high = Math.max(...values);
      caption.textContent = `${name}  last ${formatMetric(values[values.length - 1])}  (min ${formatMetric(low)}, max ${formatMetric(high)})`;
      chart.append(caption, lineChart(values, 240, 60, 'nbm-Chart-plot'));
      charts.appendChild(chart);
    }

    const config = element('table', 'nbm-Details-config');
    const rows: [string, unknown][] = [
      ['id', run.id],
      ['model', run.model || '—'],
      ['updated', formatAgo(this.runs.find(r => r.id === id)?.updated ?? 0)],
      ['checkpoint', run.checkpoint || 'none'],
      ...Object.entries(run.config)
    ];
    const copyable = new Set(['id', ...(run.checkpoint ? ['checkpoint'] : [])]);
    for (const [key, value] of rows) {
      const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
      const cell = element('td', '');
      // Long ids and paths wrap (CSS); the tooltip and the copy button give them whole.
      const content = element('span', 'nbm-Details-value', text);
      cell.title = text;
      cell.appendChild(content);
      if (copyable.has(key)) {
        const copy = element('button', 'jp-mod-styled nbm-Details-copy', 'copy');
        copy.title = `Copy the ${key}`;
        copy.addEventListener('click', () => Clipboard.copyToSystem(text));
        cell.appendChild(copy);
      }
      // Long keys (checkpoint_every) may break after an underscore, not mid-word.
      const th = element('th', '');
      key.split('_').forEach((part, i) => {
        if (i > 0) {
          th.append('_', document.createElement('wbr'));
        }
        th.append(part);
      });
      const tr = element('tr', '');
      tr.append(th, cell);
      config.appendChild(tr);
    }
    this.detailsBody.replaceChildren(title, summary, message, charts, config);
  }

  private async renderDevices(): Promise<void> {
    let listing: IDeviceList;
    try {
      listing = await requestAPI<IDeviceList>('devices');
    } catch (error) {
      this.devices.replaceChildren(element('div', 'nbm-RunsPanel-error', (error as Error).message));
      return;
    }
    const items: HTMLElement[] = [];
    if (listing.error) {
      items.push(element('div', 'nbm-RunsPanel-error', listing.error));
    }
    if (listing.cpu_only) {
      items.push(element('div', 'nbm-Devices-cpuOnly', 'CPU only: no GPU or TPU found.'));
    }
    for (const device of listing.devices) {
      const item = element('div', `nbm-Device nbm-Device-${device.kind}`);
      const memory =
        device.memory_total !== null
          ? `${formatBytes(device.memory_used)} / ${formatBytes(device.memory_total)}`
          : '';
      const utilization = device.utilization !== null ? `${Math.round(device.utilization)}% busy` : '';
      item.append(
        element('div', 'nbm-Device-name', `${device.kind} ${device.index}: ${device.name}`),
        element('div', 'nbm-Device-stats', [memory, utilization, device.recommended_precision].filter(Boolean).join(' · '))
      );
      if (device.memory_total && device.memory_used !== null) {
        const bar = element('div', 'nbm-RunRow-bar');
        const fill = element('div', 'nbm-RunRow-barFill');
        fill.style.width = `${(100 * device.memory_used) / device.memory_total}%`;
        bar.appendChild(fill);
        item.appendChild(bar);
      }
      items.push(item);
    }
    this.devices.replaceChildren(...items);
  }
}
