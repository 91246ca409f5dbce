/**
 * The code the commands put into notebooks. Plain strings: no kernel is needed to make them.
 */

/** A Python string literal for `text` (JSON's escapes are valid Python). */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** The cell "Open run in a notebook" inserts: load the run from disk and watch it. */
export function openRunCode(runId: string): string {
  return [
    'from nbmodels import Run',
    'from nbmodels.dashboards import MetricsPanel',
    '',
    `MetricsPanel(Run.load(${pythonString(runId)}))`
  ].join('\n');
}

/**
 * The cell "Insert training dashboard cell" inserts. It runs on its own in a fresh kernel (its
 * own imports, nothing defined elsewhere) and shows the TrainingDashboard: a picker of the
 * built-in recipes, whose default datasets are embedded (offline), a form for every training
 * setting, Start / Stop / Resume and the live metrics.
 */
export function dashboardCellCode(): string {
  return [
    '# Pick a model, size and dataset, adjust the settings, press Start. Training runs in a',
    '# background thread, so Stop and the live charts keep working. The default datasets ship',
    '# with Python or are generated, so this works offline.',
    'from nbmodels.dashboards import TrainingDashboard',
    '',
    'dashboard = TrainingDashboard()',
    'dashboard'
  ].join('\n');
}

/** The template notebook's training cell: needs its `builder` and `dataset` cells above. */
export function trainCellCode(): string {
  return [
    '# Trains in a background thread, so the panel (and its Stop button) stay responsive.',
    'from nbmodels.dashboards import MetricsPanel',
    '',
    'run = nbmodels.train(builder, dataset, TrainConfig(epochs=5), background=True)',
    'MetricsPanel(run)'
  ].join('\n');
}

interface ICell {
  cell_type: 'code' | 'markdown';
  source: string;
  metadata: Record<string, unknown>;
  outputs?: unknown[];
  execution_count?: null;
}

function cell(cellType: 'code' | 'markdown', source: string): ICell {
  return cellType === 'code'
    ? { cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null }
    : { cell_type: 'markdown', source, metadata: {} };
}

/** The notebook "New nbmodels notebook" creates: the keras.io order on embedded data. */
export function newNotebookContent(): Record<string, unknown> {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python' }
    },
    cells: [
      cell('markdown', '# A new nbmodels model\n\nSetup, data, model, train, inspect.'),
      cell('code', 'import functools\n\nimport nbmodels\nfrom nbmodels import TrainConfig, data\n\nnbmodels.devices()'),
      cell('code', 'dataset = data.load("digits")  # embedded: works offline\ndataset'),
      cell(
        'code',
        'from nbmodels.models import mlp\n\n' +
          '# A builder, not a model: train() builds it inside the distribution strategy.\n' +
          'builder = functools.partial(mlp, dataset.input_shape, dataset.num_classes)'
      ),
      cell('code', trainCellCode()),
      cell('code', 'run.wait()\nrun.summary()')
    ]
  };
}
