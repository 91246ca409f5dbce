"""The dashboards' shared widget kit: charts that work in JupyterLab and Colab, static snapshots
for saved notebooks, and the environment probe behind both. Views import from here; nothing
here knows a particular view."""
