"""tests/ mirrors flack/: each module with behaviour has its test module at
the mirrored place (``flack/x.py``: ``tests/test_x.py``; ``flack/pkg/y.py``:
``tests/pkg/test_y.py``; ``flack/pkg/__init__.py``: ``tests/pkg/test_pkg.py``).
The suites about the whole system, not one module, are the other modules at
the top of tests/."""

import subprocess
import sys
from pathlib import Path

FLACK = Path(__file__).resolve().parent.parent / 'flack'
TESTS = Path(__file__).resolve().parent

# Modules with no behaviour of their own, and why.
NO_BEHAVIOUR = {
    '__init__.py': 'create_app only hands over to app.build_app (tests/test_app.py)',
    'extensions.py': 'declares the database object',
    'previews/__init__.py': "re-exports the preview job's names",
    'realtime/server.py': "the accessor of each app's Socket.IO server, used by every realtime test",
}
# Modules whose behaviour is tested elsewhere, there and why.
TESTED_ELSEWHERE = {
    # Wiring: which server an app gets, with which handlers, guard and broadcast.
    'realtime/__init__.py': ['test_app.py', 'test_fanout.py'],
    # The two kinds of background work, held to one contract in the interface's test.
    'work/in_process.py': ['work/test_work.py'],
    'work/celery_work.py': ['work/test_work.py'],
    # What gunicorn imports: tested through the Procfile's web command, whose
    # answers and log lines (wsgi.errors) those suites check.
    'wsgi.py': ['test_live_server.py', 'test_logs.py'],
}


def flack_modules():
    return sorted(path.relative_to(FLACK).as_posix() for path in FLACK.rglob('*.py'))


def mirrored(module):
    """The test module's path in tests/ for ``module``'s path in flack/."""
    folder, _, name = module.rpartition('/')
    if name == '__init__.py':
        name = f'{folder.rpartition("/")[2]}.py' if folder else name
    return f'{folder}/test_{name}' if folder else f'test_{name}'


def test_each_module_with_behaviour_has_its_mirrored_test_module():
    missing = [
        f'flack/{module}: tests/{mirrored(module)}'
        for module in flack_modules()
        if module not in NO_BEHAVIOUR
        and module not in TESTED_ELSEWHERE
        and not (TESTS / mirrored(module)).exists()
    ]

    assert not missing, 'no test module (or say in test_layout.py why none is needed):\n' + '\n'.join(missing)


def test_the_exceptions_name_modules_and_test_modules_that_exist():
    modules = set(flack_modules())

    assert not (set(NO_BEHAVIOUR) | set(TESTED_ELSEWHERE)) - modules
    assert not [test for tests in TESTED_ELSEWHERE.values() for test in tests if not (TESTS / test).exists()]
    assert not [module for module in NO_BEHAVIOUR if (TESTS / mirrored(module)).exists()]


def test_each_test_module_of_a_subpackage_mirrors_a_module():
    mirrors = {mirrored(module) for module in flack_modules()}
    strays = [
        test.relative_to(TESTS).as_posix()
        for folder in TESTS.iterdir()
        if folder.is_dir() and (FLACK / folder.name).is_dir()
        for test in folder.glob('test_*.py')
        if test.relative_to(TESTS).as_posix() not in mirrors
    ]

    assert not strays, f'test modules in a mirrored folder that mirror no module of flack/: {strays}'


# Entry points, which build an app from the environment as they are loaded.
ENTRY_POINTS = {'flack.wsgi', 'flack.worker'}
IMPORT_EACH_AFRESH = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [key for key in sys.modules if key == 'flack' or key.startswith('flack.')]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as error:
        sys.exit(f'{name}: {type(error).__name__}: {error}')
"""


def test_each_module_imports_on_its_own():
    # A script, a task or a test may import any module first: an import
    # cycle would leave one of them half-made (an AttributeError at import).
    modules = sorted(
        '.'.join(path.relative_to(FLACK.parent).with_suffix('').parts).removesuffix('.__init__')
        for path in FLACK.rglob('*.py')
    )
    imported = subprocess.run(
        [sys.executable, '-c', IMPORT_EACH_AFRESH, *(m for m in modules if m not in ENTRY_POINTS)],
        cwd=FLACK.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert imported.returncode == 0, imported.stderr[-3000:]
