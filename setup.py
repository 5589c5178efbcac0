"""Bundle the default project (kam.yaml, rules/, playbooks/, templates/ at the repository
root) into the package as engine/project/default_project, so an installed `kam` finds it."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
# tests/rules: the rule tests (`kam test`, copied by `kam init`), not the Python tests
DEFAULT_PROJECT = ("kam.yaml", "rules", "playbooks", "templates", "tests/rules")


class BuildWithDefaultProject(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "engine" / "project" / "default_project"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in DEFAULT_PROJECT:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, target / name)
            else:
                shutil.copy2(src, target / name)


setup(cmdclass={"build_py": BuildWithDefaultProject})
