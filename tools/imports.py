"""deepx's import graph, read from the source of the installed package (imports inside functions too).

It answers two questions: does every module import only its own layer or lower ones, with no circle
(`python -m deepx.tools.imports` prints the violations and exits 1 on any; a test runs it), and which files
make up the runtime that `deepx flash` copies to a board (`closure`).
"""
import ast
import importlib.util
import pkgutil
import sys

#: the layers, lowest first: a module may import its own layer or a lower one
LAYERS = ("core", "kernels", "models", "boards", "runtime", "tools", "testing")


def modules() -> dict:
    """{module name: source or extension file} of every module and package of deepx."""
    found = {"deepx": importlib.util.find_spec("deepx").origin}
    for layer in LAYERS[1:]:
        spec = importlib.util.find_spec(f"deepx.{layer}")
        found[spec.name] = spec.origin
        for info in pkgutil.walk_packages(spec.submodule_search_locations, f"deepx.{layer}."):
            found[info.name] = importlib.util.find_spec(info.name).origin
    for info in pkgutil.iter_modules(importlib.util.find_spec("deepx").submodule_search_locations, "deepx."):
        if not info.ispkg:  # core's modules: deepx.errors, deepx.config, ...
            found[info.name] = importlib.util.find_spec(info.name).origin
    return found


def imports(name: str, path: str, known) -> set:
    """The deepx modules that module `name` (file `path`) imports anywhere in its code."""
    if not path.endswith(".py"):
        return set()  # a compiled extension: it imports no deepx module
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "deepx")
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.level, node.module)
            if base.split(".")[0] != "deepx":
                continue
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in out if m in known}


def _absolute(package: str, level: int, module) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    base = parts[:len(parts) - level + 1]
    return ".".join(base + ([module] if module else []))


def graph() -> dict:
    """{module: {deepx modules it imports}} over all of deepx."""
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "core"


def upward(g: dict) -> list:
    """[(importer, imported)] where a module imports a higher layer than its own."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted((a, b) for a, bs in g.items() for b in bs if rank[layer(b)] > rank[layer(a)])


def circles(g: dict) -> list:
    """The groups of modules that import each other in a circle (strongly connected, Tarjan's algorithm)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
                on.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(g)))
    try:
        for v in sorted(g):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def closure(roots, g: dict) -> set:
    """`roots`, everything they import, directly or not, and the packages that hold them."""
    seen, todo = set(), list(roots)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += g.get(m, ())
        todo += [m.rsplit(".", k)[0] for k in range(1, m.count(".") + 1)]
    return seen


def main() -> int:
    g = graph()
    up, loops = upward(g), circles(g)
    for a, b in up:
        print(f"upward import: {a} ({layer(a)}) imports {b} ({layer(b)})")
    for group in loops:
        print(f"import circle: {' <-> '.join(group)}")
    print(f"{len(g)} modules, {sum(map(len, g.values()))} imports: {len(up)} upward, {len(loops)} circles "
          f"(layers, lowest first: {' <- '.join(LAYERS)})")
    return 1 if up or loops else 0


if __name__ == "__main__":
    sys.exit(main())
