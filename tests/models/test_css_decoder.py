import pytest
import torch

from saip.models.css_decoder import CSSDecoder

D, DS, DIM = 16, 24, 32


def tiny_decoder(mask_convs: int = 2, scene_dim: int | None = DS) -> CSSDecoder:
    torch.manual_seed(0)
    return CSSDecoder(D, dim=DIM, query_depth=1, num_heads=2, mask_convs=mask_convs, scene_dim=scene_dim)


@pytest.mark.parametrize("query_grid", [(16, 8), (20, 10), (8, 4)])
def test_output_shape(query_grid: tuple[int, int]) -> None:
    query = torch.randn(2, 1 + query_grid[0] * query_grid[1], D)
    scene = torch.randn(2, 14 * 14, DS)
    assert tiny_decoder()(query, scene, (14, 14)).shape == (2, 14, 14)


def test_scene_dim_defaults_to_embed_dim_and_non_square_scene() -> None:
    decoder = tiny_decoder(mask_convs=3, scene_dim=None)
    assert decoder(torch.randn(1, 5, D), torch.randn(1, 6 * 4, D), (6, 4)).shape == (1, 6, 4)
    convs = [m for m in decoder.mask_head if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1)] + [(3, 3)] * 3
    assert sum(isinstance(m, torch.nn.GELU) for m in decoder.mask_head) == 4


def test_gradients_reach_all_parameters() -> None:
    decoder = tiny_decoder()
    decoder(torch.randn(2, 9, D), torch.randn(2, 8 * 4, DS), (8, 4)).pow(2).mean().backward()
    missing = [n for n, p in decoder.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_logits_are_kernel_dot_features_on_row_major_scene_map() -> None:
    decoder = tiny_decoder()
    seen: dict[str, torch.Tensor] = {}
    decoder.mask_head.register_forward_hook(lambda m, args, out: seen.update(map_in=args[0], features=out))
    decoder.kernel.register_forward_hook(lambda m, args, out: seen.update(kernel=out))
    scene = torch.randn(2, 3 * 5, DS)
    logits = decoder(torch.randn(2, 7, D), scene, (3, 5))
    for i in range(3):
        for j in range(5):
            torch.testing.assert_close(seen["map_in"][:, :, i, j], scene[:, i * 5 + j])
            expected = (seen["kernel"] * seen["features"][:, :, i, j]).sum(dim=-1)
            torch.testing.assert_close(logits[:, i, j], expected)


def test_query_is_the_class_token() -> None:
    # With no self-attention blocks only the class token (index 0) reaches the kernel.
    torch.manual_seed(0)
    decoder = CSSDecoder(D, dim=DIM, query_depth=0, num_heads=2, mask_convs=1)
    query, scene = torch.randn(1, 6, D), torch.randn(1, 16, D)
    changed = query.clone()
    changed[:, 1:] = torch.randn(1, 5, D)
    torch.testing.assert_close(decoder(changed, scene, (4, 4)), decoder(query, scene, (4, 4)))
    changed[:, 0] += 1.0
    assert not torch.allclose(decoder(changed, scene, (4, 4)), decoder(query, scene, (4, 4)))


def test_bad_input() -> None:
    decoder = tiny_decoder()
    query, scene = torch.randn(2, 5, D), torch.randn(2, 16, DS)
    with pytest.raises(ValueError, match="query_tokens"):
        decoder(torch.randn(2, 5, DS), scene, (4, 4))
    with pytest.raises(ValueError, match="scene_tokens"):
        decoder(query, scene, (4, 5))
    with pytest.raises(ValueError, match="scene_tokens"):
        decoder(query, scene[:1], (4, 4))
    with pytest.raises(ValueError, match="scene_grid"):
        decoder(query, scene, (0, 4))


def test_search_shares_the_scene_side_and_matches_separate_calls() -> None:
    """Two queries in one `search` give exactly what two `forward` calls give."""
    torch.manual_seed(0)
    decoder = CSSDecoder(embed_dim=16, dim=32, query_depth=1, num_heads=2, mask_convs=1)
    scene = torch.randn(2, 16, 16)
    queries = [torch.randn(2, 9, 16), torch.randn(2, 5, 16)]
    together = decoder.search(queries, scene, (4, 4))
    for query, logits in zip(queries, together, strict=True):
        torch.testing.assert_close(logits, decoder(query, scene, (4, 4)))
