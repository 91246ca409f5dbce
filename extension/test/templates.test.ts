import { dashboardCellCode, newNotebookContent, openRunCode, pythonString, trainCellCode } from '../src/templates';

describe('notebook code', () => {
  it('opens a run by id with its MetricsPanel', () => {
    expect(openRunCode('20261123-142501-gpt-ab12')).toBe(
      'from nbmodels import Run\nfrom nbmodels.dashboards import MetricsPanel\n\n' +
        'MetricsPanel(Run.load("20261123-142501-gpt-ab12"))'
    );
  });

  it('quotes ids as Python string literals', () => {
    expect(pythonString('a"b\\c')).toBe('"a\\"b\\\\c"');
  });

  it('inserts a dashboard cell that imports everything it uses and shows the TrainingDashboard', () => {
    const code = dashboardCellCode();
    expect(code).toContain('from nbmodels.dashboards import TrainingDashboard');
    expect(code).toMatch(/^dashboard = TrainingDashboard\(\)$/m);
    // Nothing another cell would have to define (the old cell failed with NameError on these).
    const statements = code.replace(/#.*$/gm, '');
    expect(statements).not.toMatch(/nbmodels\.train|\bbuilder\b|\bdataset\b|TrainConfig|MetricsPanel/);
  });

  it('makes a notebook whose cells end with the training cell and a wait', () => {
    const notebook = newNotebookContent() as { nbformat: number; cells: { cell_type: string; source: string }[] };
    expect(notebook.nbformat).toBe(4);
    const code = notebook.cells.filter(c => c.cell_type === 'code').map(c => c.source);
    expect(code).toContain(trainCellCode());
    expect(code[code.length - 1]).toContain('run.wait()');
  });
});
