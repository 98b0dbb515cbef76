from labs.lab11_multimodal import cost, rag


def test_retrieval_metrics_are_consistent(models):
    m = rag.retrieval_metrics(models.clip, ks=(1, 5))
    assert m["queries"] == 30 and m["index_size"] == 360
    assert m["hit@5"] >= m["hit@1"] >= m["precision@1"]
    assert m["recall@5"] > m["recall@1"]
    assert m["digit_precision@5"] > 0.6            # far above the 0.1 of a random index


def test_pdf_design_numbers_follow_from_its_inputs():
    d = rag.pdf_rag_design(pages=200, pages_per_answer=3)
    per_page = cost.tokens("openai_high", 1275, 1650)["tokens"]
    assert d["page_image"]["tokens_per_page_image"] == per_page
    assert d["page_image"]["prompt_tokens_per_answer"] == 3 * per_page + 200
    assert d["page_image"]["index_bytes"] == d["page_image"]["vectors"] * 128 * 4
    assert rag.pdf_rag_design(pages=400)["text_first"]["chunks"] > d["text_first"]["chunks"]
