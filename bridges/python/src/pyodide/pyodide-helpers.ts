/**
 * Python that runs inside every Pyodide worker once, after the interpreter loads: it defines user
 * functions (checking their imports first) and applies them to batches. Kept apart from the
 * worker's JavaScript so each language reads as itself.
 */
export const pyodideHelpers = `
import ast, importlib.util, sys, traceback, types

_millrace_functions = {}

def _millrace_top_level_functions(tree):
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]

def _millrace_missing_imports(source):
    from pyodide.code import find_imports
    missing = []
    for name in find_imports(source):
        top = name.split(".")[0]
        if top in sys.modules or top in missing:
            continue
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(top)
    return missing

def _millrace_define(function_id, source, name, filename):
    """Returns None on success, else [kind, message]; kind is 'imports' (missing modules) or 'define'."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError:
        return ["define", traceback.format_exc(limit=0)]
    missing = _millrace_missing_imports(source)
    if missing:
        return ["imports", ",".join(missing)]
    functions = _millrace_top_level_functions(tree)
    if name is None:
        if len(functions) != 1:
            listed = ", ".join(functions) if functions else "none"
            return ["define", "cannot tell which function to call: the source defines %d top-level functions (%s); name one with the 'function' option" % (len(functions), listed)]
        name = functions[0]
    namespace = {"__name__": "__millrace_udf__", "__file__": filename}
    try:
        exec(compile(tree, filename, "exec"), namespace)
    except BaseException:
        return ["define", traceback.format_exc()]
    function = namespace.get(name)
    if not callable(function):
        return ["define", "the source has no function %r (top-level functions: %s)" % (name, ", ".join(functions) or "none")]
    _millrace_functions[function_id] = function
    return None

def _millrace_call(function_id, rows, whole_batch):
    """Returns ["ok", results] or ["error", exception name, message, traceback, missing module]."""
    function = _millrace_functions[function_id]
    try:
        values = rows.to_py()
        results = function(values) if whole_batch else [function(row) for row in values]
        if whole_batch and not isinstance(results, (list, tuple)):
            raise TypeError("a batch function must return a list, got %s" % type(results).__name__)
        return ["ok", list(results)]
    except BaseException as error:
        missing = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
        return ["error", type(error).__name__, str(error), traceback.format_exc(), missing]

def _millrace_close_sandbox():
    # The JavaScript API object would let Python reach the host (mount file systems, run code).
    handle = sys.modules.get("pyodide_js")
    for module in list(sys.modules.values()):
        for key, value in list(getattr(module, "__dict__", {}).items()):
            if handle is not None and value is handle:
                try:
                    delattr(module, key)
                except (AttributeError, TypeError):
                    pass
    for key in [key for key in sys.modules if key == "pyodide_js" or key.startswith("pyodide_js.")]:
        del sys.modules[key]
`;
