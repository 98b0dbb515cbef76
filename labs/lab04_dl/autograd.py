"""A small reverse-mode autodiff over numpy arrays: enough ops for an MLP with softmax + cross-entropy.

    python -m labs.lab04_dl.autograd        # trains a 2-layer MLP on XOR with it, prints the loss

Each `Tensor` remembers the tensors it was made from and a closure that turns the gradient of its
output into gradients of its inputs (the chain rule, one op at a time):

    z = f(x, y)      ∂L/∂x += (∂L/∂z)·∂z/∂x,   ∂L/∂y += (∂L/∂z)·∂z/∂y

`backward()` orders the graph with an iterative depth-first topological sort (no recursion, so a
chain of 100,000 ops works) and visits each node once, after every node that uses it has added its
share. That ordering is what makes `b = a + a` give ∂b/∂a = 2: a recursive backward that walks
into `a` once per use, or that assigns instead of accumulating, gets 1 or double-counts subtrees.
Broadcasting is undone in the backward pass by summing the gradient over the broadcast axes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

ArrayLike = np.ndarray | float | int


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient back down to `shape` (the inverse of numpy broadcasting)."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    """A numpy array with a gradient and a link to the op that made it."""

    def __init__(self, data: ArrayLike, parents: tuple[Tensor, ...] = (), op: str = "",
                 requires_grad: bool = False):
        self.data = np.asarray(data, dtype=np.float64) if not isinstance(data, np.ndarray) else data
        self.parents = parents
        self.op = op
        self.requires_grad = requires_grad or any(p.requires_grad for p in parents)
        self.grad: np.ndarray | None = None
        self._backward: Callable[[np.ndarray], None] = lambda g: None

    def __repr__(self) -> str:
        return f"Tensor(shape={self.data.shape}, op={self.op or 'leaf'})"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def T(self) -> Tensor:  # noqa: N802 (the math writes it Wᵀ)
        return self.transpose()

    # the graph -------------------------------------------------------------------------------------
    def _accumulate(self, g: np.ndarray) -> None:
        if self.requires_grad:
            self.grad = g.copy() if self.grad is None else self.grad + g

    def backward(self, grad: np.ndarray | None = None) -> None:
        """∂self/∂x into x.grad for every x this tensor depends on (accumulating across calls)."""
        if grad is None:
            if self.data.size != 1:
                raise ValueError("backward() without a gradient needs a scalar output")
            grad = np.ones_like(self.data)
        order = topological_order(self)
        pending: dict[int, np.ndarray] = {id(self): np.asarray(grad, dtype=self.data.dtype)}
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if not node.parents:
                node._accumulate(g)
                continue
            node._pending = pending
            node._backward(g)
            del node._pending

    def _send(self, parent: Tensor, g: np.ndarray) -> None:
        """Add g to what `parent` will receive; summed over every use before parent runs."""
        if not parent.requires_grad:
            return
        g = _unbroadcast(g, parent.shape)
        key = id(parent)
        self._pending[key] = g if key not in self._pending else self._pending[key] + g

    # ops -------------------------------------------------------------------------------------------
    def _make(self, data: np.ndarray, parents: tuple[Tensor, ...], op: str,
              backward: Callable[[np.ndarray], Iterable[tuple[Tensor, np.ndarray]]]) -> Tensor:
        out = Tensor(data, parents, op)
        if out.requires_grad:
            def run(g: np.ndarray) -> None:
                for parent, pg in backward(g):
                    out._send(parent, pg)
            out._backward = run
        return out

    def __add__(self, other: Tensor | ArrayLike) -> Tensor:
        o = lift(other)
        return self._make(self.data + o.data, (self, o), "add", lambda g: ((self, g), (o, g)))

    __radd__ = __add__

    def __neg__(self) -> Tensor:
        return self._make(-self.data, (self,), "neg", lambda g: ((self, -g),))

    def __sub__(self, other: Tensor | ArrayLike) -> Tensor:
        return self + (-lift(other))

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return lift(other) + (-self)

    def __mul__(self, other: Tensor | ArrayLike) -> Tensor:
        o = lift(other)
        return self._make(self.data * o.data, (self, o), "mul",
                          lambda g: ((self, g * o.data), (o, g * self.data)))

    __rmul__ = __mul__

    def __truediv__(self, other: Tensor | ArrayLike) -> Tensor:
        o = lift(other)
        return self._make(self.data / o.data, (self, o), "div",
                          lambda g: ((self, g / o.data), (o, -g * self.data / o.data**2)))

    def __pow__(self, k: float) -> Tensor:
        return self._make(self.data**k, (self,), "pow", lambda g: ((self, g * k * self.data ** (k - 1)),))

    def __matmul__(self, other: Tensor) -> Tensor:
        o = lift(other)
        # C = A B:  ∂L/∂A = (∂L/∂C) Bᵀ,  ∂L/∂B = Aᵀ (∂L/∂C)
        return self._make(self.data @ o.data, (self, o), "matmul",
                          lambda g: ((self, g @ o.data.T), (o, self.data.T @ g)))

    def transpose(self) -> Tensor:
        return self._make(self.data.T, (self,), "transpose", lambda g: ((self, g.T),))

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        def back(g: np.ndarray):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return ((self, np.broadcast_to(g, self.shape).copy()),)
        return self._make(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum", back)

    def mean(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        n = self.data.size if axis is None else self.data.shape[axis]
        return self.sum(axis, keepdims) * (1.0 / n)

    def max(self, axis: int, keepdims: bool = True) -> Tensor:
        m = self.data.max(axis=axis, keepdims=True)
        first = np.cumsum(self.data == m, axis=axis) == 1  # ties: the gradient goes to one arg, as torch's max
        mask = (self.data == m) & first

        def back(g: np.ndarray):
            g = g if keepdims else np.expand_dims(g, axis)
            return ((self, mask * g),)
        return self._make(m if keepdims else m.squeeze(axis), (self,), "max", back)

    def exp(self) -> Tensor:
        e = np.exp(self.data)
        return self._make(e, (self,), "exp", lambda g: ((self, g * e),))

    def log(self) -> Tensor:
        return self._make(np.log(self.data), (self,), "log", lambda g: ((self, g / self.data),))

    def tanh(self) -> Tensor:
        t = np.tanh(self.data)
        return self._make(t, (self,), "tanh", lambda g: ((self, g * (1 - t * t)),))

    def relu(self) -> Tensor:
        return self._make(np.maximum(self.data, 0), (self,), "relu", lambda g: ((self, g * (self.data > 0)),))

    def log_softmax(self, axis: int = -1) -> Tensor:
        # log softmax(z) = z - m - log Σ exp(z - m): the max shift keeps exp from overflowing
        shifted = self - Tensor(self.data.max(axis=axis, keepdims=True))
        return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()

    def softmax(self, axis: int = -1) -> Tensor:
        return self.log_softmax(axis).exp()


def lift(x: Tensor | ArrayLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def topological_order(root: Tensor) -> list[Tensor]:
    """Every node root depends on, each after all of its parents; iterative, so depth is unlimited."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if id(p) not in seen)
    return order


def cross_entropy(logits: Tensor, y: np.ndarray) -> Tensor:
    """Mean over the batch of -log softmax(z)[y]; y holds class indices."""
    n = logits.shape[0]
    onehot = np.zeros(logits.shape)
    onehot[np.arange(n), y] = 1.0
    return -(logits.log_softmax(axis=1) * onehot).sum() * (1.0 / n)


def mlp(x: Tensor, params: list[tuple[Tensor, Tensor]]) -> Tensor:
    """x Wᵀ + b with ReLU between layers (rows are examples, W is (out, in) as torch.nn.Linear)."""
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W.T + b
        if i < len(params) - 1:
            h = h.relu()
    return h


def _demo() -> None:
    rng = np.random.default_rng(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    params = [(Tensor(rng.normal(0, 1, (8, 2)), requires_grad=True), Tensor(np.zeros(8), requires_grad=True)),
              (Tensor(rng.normal(0, 0.5, (2, 8)), requires_grad=True), Tensor(np.zeros(2), requires_grad=True))]
    for step in range(301):
        loss = cross_entropy(mlp(Tensor(x), params), y)
        for W, b in params:
            W.grad = b.grad = None
        loss.backward()
        for W, b in params:
            W.data -= 0.5 * W.grad
            b.data -= 0.5 * b.grad
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.data:.4f}")
    print("predictions:", mlp(Tensor(x), params).data.argmax(1).tolist(), "targets:", y.tolist())


if __name__ == "__main__":
    _demo()
