/**
 * nbmodels for JupyterLab: the Runs sidebar and the notebook commands.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { RunsPanel } from './panel';
import { dashboardCellCode, newNotebookContent, openRunCode } from './templates';

const CATEGORY = 'nbmodels';

namespace CommandIDs {
  export const newNotebook = 'nbmodels:new-notebook';
  export const insertDashboard = 'nbmodels:insert-dashboard-cell';
  export const openRun = 'nbmodels:open-run-in-notebook';
  export const showRuns = 'nbmodels:show-runs';
}

/** A falling loss curve. */
export const runsIcon = new LabIcon({
  name: 'nbmodels:runs',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<path class="jp-icon3" fill="none" stroke="#616161" stroke-width="2" ' +
    'd="M3 4v16h18M6 7c2 6 4 8 7 9s5 1 7 1"/></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbmodels:plugin',
  description: 'A sidebar that watches every nbmodels training run and device.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILauncher, ILayoutRestorer, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
    fileBrowser: IDefaultFileBrowser | null
  ) => {
    const { commands, serviceManager, shell } = app;

    /** Put `code` in the current notebook: into the active cell when it is empty (a new
     * notebook's first cell), else into a new cell below it. False when no notebook is open. */
    const insertCell = (code: string): boolean => {
      const current = notebooks.currentWidget;
      if (!current) {
        return false;
      }
      const active = current.content.activeCell;
      if (!active || active.model.type !== 'code' || active.model.sharedModel.getSource().trim() !== '') {
        NotebookActions.insertBelow(current.content);
      }
      current.content.activeCell?.model.sharedModel.setSource(code);
      shell.activateById(current.id);
      return true;
    };

    /** `insertCell`, opening a new notebook first when none is open. */
    const insertCellAnywhere = async (code: string): Promise<void> => {
      if (!insertCell(code)) {
        const created = await commands.execute('notebook:create-new', { kernelName: 'python3' });
        await created?.context?.ready;
        insertCell(code);
      }
    };

    const newNotebook = async (): Promise<void> => {
      const folder = fileBrowser?.model.path ?? '';
      const created = await serviceManager.contents.newUntitled({ path: folder, type: 'notebook' });
      await serviceManager.contents.save(created.path, {
        type: 'notebook',
        format: 'json',
        content: newNotebookContent()
      });
      await commands.execute('docmanager:open', { path: created.path, factory: 'Notebook' });
    };

    commands.addCommand(CommandIDs.newNotebook, {
      label: args => (args.isLauncher ? 'nbmodels notebook' : 'New nbmodels notebook'),
      caption: 'A notebook that trains a model on embedded data and watches it',
      icon: args => (args.isPalette ? undefined : runsIcon),
      execute: newNotebook
    });
    commands.addCommand(CommandIDs.insertDashboard, {
      label: 'Insert training dashboard cell',
      caption: 'A cell that shows the TrainingDashboard: pick a recipe, Start, Stop, watch (runs on its own)',
      execute: () => insertCellAnywhere(dashboardCellCode())
    });
    commands.addCommand(CommandIDs.openRun, {
      label: args => (args.runId ? `Open run ${args.runId} in a notebook` : 'Open run in a notebook'),
      caption: 'Insert a cell that loads the run and shows its MetricsPanel',
      execute: async args => {
        const runId = (args.runId as string | undefined) ?? panel.selectedRun;
        if (!runId) {
          shell.activateById(panel.id);
          return; // nothing chosen: show the panel so a run can be picked
        }
        await insertCellAnywhere(openRunCode(runId));
      }
    });
    commands.addCommand(CommandIDs.showRuns, {
      label: 'Show nbmodels runs',
      execute: () => shell.activateById(panel.id)
    });

    const panel = new RunsPanel({
      openRunInNotebook: runId => void commands.execute(CommandIDs.openRun, { runId }),
      insertDashboard: () => void commands.execute(CommandIDs.insertDashboard)
    });
    panel.title.icon = runsIcon;
    shell.add(panel, 'left', { rank: 700 });
    restorer?.add(panel, panel.id);

    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: CATEGORY });
    }
    launcher?.add({ command: CommandIDs.newNotebook, category: 'Notebook', rank: 100 });
  }
};

export default plugin;
