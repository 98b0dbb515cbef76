"""The chapter's six worked exercises, computed by this lab's own code (no answer is typed in).

    python -m labs.lab01_math.exercises          # readable: inputs, worked steps, answer
    python -m labs.lab01_math.exercises --json   # one JSON object {exercise: {inputs..., answer...}}
"""

from __future__ import annotations

import argparse
import json
import math

import sympy as sp
import torch

from labs.lab01_math import probability, tensors, vectors


def cosine_of_34_and_43() -> dict:
    """cos θ between (3, 4) and (4, 3): both views of the dot product, then the angle."""
    a, b = [3.0, 4.0], [4.0, 3.0]
    r = vectors.cosine_report(a, b)
    ref = float(torch.nn.functional.cosine_similarity(torch.tensor(a, dtype=torch.float64),
                                                      torch.tensor(b, dtype=torch.float64), dim=0))
    return {"a": a, "b": b,
            "steps": [f"a·b = 3·4 + 4·3 = {r['dot_algebraic']:g}", f"|a| = √(9 + 16) = {r['norm_a']:g}, "
                      f"|b| = {r['norm_b']:g}", f"cos θ = {r['dot_algebraic']:g} / ({r['norm_a']:g}·{r['norm_b']:g})",
                      f"θ = arccos({r['cosine']:g}) = {r['angle_deg']:.2f}°",
                      f"|a||b|cos θ with θ from the law of cosines = {r['dot_geometric']:.12g}"],
            "answer": {"cosine": r["cosine"], "angle_deg": round(r["angle_deg"], 4)}, "torch_cosine": ref,
            "note": f"same length, mirrored across the diagonal: similar ({r['cosine']:g}) but not the same direction"}


def mlp_shapes() -> dict:
    """A 784 -> 256 -> 128 -> 10 MLP on a batch of 32 (an MNIST-sized classifier): shapes and parameters."""
    r = tensors.mlp_walk(32, [784, 256, 128, 10])
    return {"batch": 32, "sizes": r["sizes"],
            "steps": [f"{layer['layer']}: {layer.get('matmul', '')} shape {layer['shape']}"
                      + (f", {layer['parameters']} parameters = {layer['formula']}" if "formula" in layer else "")
                      for layer in r["layers"]],
            "answer": {"parameters": r["parameters"], "output_shape": r["output_shape"],
                       "formula": r["parameters_formula"]}}


def sigmoid_mse_gradient() -> dict:
    """∂L/∂w and ∂L/∂b for L = (y − σ(wx + b))² at x = 2, y = 1, w = 0.5, b = 0: derived, then autograd."""
    x, y, w, b = 2.0, 1.0, 0.5, 0.0
    X, Y, W, B = sp.symbols("x y w b", real=True)
    L = (Y - 1 / (1 + sp.exp(-(W * X + B)))) ** 2
    at = {X: x, Y: y, W: w, B: b}
    dw_sym, db_sym = float(sp.diff(L, W).subs(at)), float(sp.diff(L, B).subs(at))
    z = w * x + b
    yhat = 1 / (1 + math.exp(-z))
    dw = -2 * (y - yhat) * yhat * (1 - yhat) * x
    db = -2 * (y - yhat) * yhat * (1 - yhat)
    wt, bt = torch.tensor(w, dtype=torch.float64, requires_grad=True), torch.tensor(b, dtype=torch.float64,
                                                                                    requires_grad=True)
    aw, ab = torch.autograd.grad((y - torch.sigmoid(wt * x + bt)) ** 2, [wt, bt])
    return {"x": x, "y": y, "w": w, "b": b,
            "steps": [f"z = wx + b = {z:g}", f"ŷ = σ(z) = {yhat:.6f}", f"dL/dŷ = −2(y − ŷ) = {-2 * (y - yhat):.6f}",
                      f"dŷ/dz = ŷ(1 − ŷ) = {yhat * (1 - yhat):.6f}", f"dz/dw = x = {x:g}, dz/db = 1",
                      f"chain rule: dL/dw = {dw:.6f}, dL/db = {db:.6f}"],
            "answer": {"dL_dw": dw, "dL_db": db}, "sympy": {"dL_dw": dw_sym, "dL_db": db_sym},
            "autograd": {"dL_dw": float(aw), "dL_db": float(ab)},
            "max_error_vs_autograd": max(abs(dw - float(aw)), abs(db - float(ab)))}


def spam_posterior() -> dict:
    """P(spam | "free") with P(spam) = 0.2, P("free" | spam) = 0.6, P("free" | ham) = 0.05; then "winner" too."""
    prior, lik_free, lik_winner = [0.2, 0.8], [0.6, 0.05], [0.3, 0.01]
    one = probability.bayes(prior, lik_free)
    two = probability.bayes(one["posterior"], lik_winner)  # yesterday's posterior is today's prior
    sim = probability.bayes_by_simulation(prior, lik_free, 400_000, seed=1)
    flat = probability.bayes([0.5, 0.5], lik_free)["posterior"][0]  # what ignoring the base rate would say
    return {"prior_spam": prior[0], "p_free_given_spam": lik_free[0], "p_free_given_ham": lik_free[1],
            "p_winner_given_spam": lik_winner[0], "p_winner_given_ham": lik_winner[1],
            "steps": [f"P(free) = 0.6·0.2 + 0.05·0.8 = {one['evidence']:g}",
                      f"P(spam | free) = 0.6·0.2 / {one['evidence']:g} = {one['posterior'][0]:.4f}",
                      f"then 'winner' (independent given the class): P(spam | free, winner) = "
                      f"{two['posterior'][0]:.4f}"],
            "answer": {"p_spam_given_free": one["posterior"][0], "p_spam_given_free_and_winner": two["posterior"][0]},
            "simulated_p_spam_given_free": sim[0],
            "note": f"a word {lik_free[0] / lik_free[1]:g}x likelier in spam lifts a {prior[0]:.0%} prior to "
                    f"{one['posterior'][0]:.0%}, not to the {flat:.0%} that ignoring the base rate gives"}


def gaussian_mle_equals_mse() -> dict:
    """y = Xw + ε, ε ~ N(0, 0.5²), 200 points, 3 features: maximise the likelihood, minimise the MSE."""
    r = probability.gaussian_mle_is_mse(n=200, d=3, noise=0.5, seed=0)
    return {"n": r["n"], "d": r["d"], "noise_sigma": r["noise_sigma"],
            "steps": ["−log L(w, σ) = (N/2) log 2πσ² + Σ(y − Xw)²/(2σ²)",
                      "for any fixed σ, the w-part is Σ(y − Xw)²/(2σ²): a positive multiple of the MSE",
                      "so both objectives have the same argmin; setting ∂/∂σ = 0 gives σ̂² = MSE(ŵ)"],
            "answer": {"w_mse": r["w_mse"], "w_mle": r["w_mle"], "max_difference": r["max_difference"],
                       "sigma_mle": r["sigma_mle"], "sqrt_mse": r["sqrt_mse"]},
            "w_true": r["w_true"]}


def kl_bernoulli_03_05() -> dict:
    """KL(Bernoulli(0.3) ‖ Bernoulli(0.5)) in nats and bits, and the other direction."""
    p, q = 0.3, 0.5
    r = probability.kl_report("bernoulli", [p], [q])
    ref = float(torch.distributions.kl_divergence(torch.distributions.Bernoulli(probs=torch.tensor(p, dtype=torch.float64)),
                                                  torch.distributions.Bernoulli(probs=torch.tensor(q, dtype=torch.float64))))
    return {"p": p, "q": q,
            "steps": [f"0.3·ln(0.3/0.5) = {p * math.log(p / q):.6f}", f"0.7·ln(0.7/0.5) = {(1 - p) * math.log((1 - p) / (1 - q)):.6f}",
                      f"sum = {r['kl_pq_nats']:.6f} nats; / ln 2 = {r['kl_pq_bits']:.6f} bits",
                      f"H(p, q) = {r['cross_entropy_pq']:.6f} = H(p) {r['entropy_p']:.6f} + KL {r['kl_pq_nats']:.6f}"],
            "answer": {"nats": r["kl_pq_nats"], "bits": r["kl_pq_bits"], "reverse_nats": r["kl_qp_nats"]},
            "torch_kl": ref, "note": "KL(p‖q) ≠ KL(q‖p): it is not a distance"}


EXERCISES = {"cosine_of_34_and_43": cosine_of_34_and_43, "mlp_shapes": mlp_shapes,
             "sigmoid_mse_gradient": sigmoid_mse_gradient, "spam_posterior": spam_posterior,
             "gaussian_mle_equals_mse": gaussian_mle_equals_mse, "kl_bernoulli_03_05": kl_bernoulli_03_05}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {name: fn() for name, fn in EXERCISES.items()}
    if args.json:
        print(json.dumps(results))
        return
    for name, result in results.items():
        print(f"== {name} == {EXERCISES[name].__doc__.splitlines()[0]}")
        for key, value in result.items():
            if key == "steps":
                for step in value:
                    print(f"    {step}")
            else:
                print(f"  {key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value}")
        print()


if __name__ == "__main__":
    main()
