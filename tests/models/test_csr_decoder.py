import pytest
import torch

from saip.data.masking import random_grid_mask, visible_indices
from saip.models.csr_decoder import CSRDecoder

D, P, C = 16, 4, 3


def tiny_decoder() -> CSRDecoder:
    torch.manual_seed(0)
    return CSRDecoder(D, decoder_dim=32, depth=1, num_heads=2, patch_size=P, in_chans=C, anchor_grid=(16, 8))


def inputs(grid: tuple[int, int], batch: int = 2, ratio: float = 0.75) -> tuple[torch.Tensor, ...]:
    mask = random_grid_mask(batch, grid, ratio, generator=torch.Generator().manual_seed(1))
    index = visible_indices(mask)
    return torch.randn(batch, index.shape[1], D), index, torch.randn(batch, D)


@pytest.mark.parametrize("grid", [(16, 8), (20, 10), (8, 4)])
def test_output_shape_on_any_grid(grid: tuple[int, int]) -> None:
    tokens, index, cls = inputs(grid)
    out = tiny_decoder()(tokens, index, grid, cls)
    assert out.shape == (2, grid[0] * grid[1], P * P * C)


def test_gradients_reach_all_parameters() -> None:
    decoder = tiny_decoder()
    tokens, index, cls = inputs((20, 10))
    decoder(tokens, index, (20, 10), cls).pow(2).mean().backward()
    missing = [n for n, p in decoder.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_tokens_follow_their_index() -> None:
    # Permuting (token, index) pairs together puts the same token in the same cell: same output.
    decoder = tiny_decoder().eval()
    tokens, index, cls = inputs((20, 10))
    perm = torch.randperm(index.shape[1])
    out = decoder(tokens, index, (20, 10), cls)
    torch.testing.assert_close(decoder(tokens[:, perm], index[:, perm], (20, 10), cls), out)
    assert not torch.allclose(decoder(tokens[:, perm], index, (20, 10), cls), out)


def test_pos_embed_identity_at_anchor_grid() -> None:
    decoder = tiny_decoder()
    assert torch.equal(decoder.grid_pos_embed((16, 8)), decoder.pos_embed)


@pytest.mark.parametrize("grid", [(20, 10), (8, 4), (24, 8)])
def test_pos_embed_resampled_in_2d_keeps_layout(grid: tuple[int, int]) -> None:
    decoder = tiny_decoder()
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(8.0), indexing="ij")
    with torch.no_grad():
        decoder.pos_embed[0, 1:, 0] = rows.flatten()
        decoder.pos_embed[0, 1:, 1] = cols.flatten()
        decoder.pos_embed[0, 0, :2] = -7.0
    pos = decoder.grid_pos_embed(grid)
    assert pos.shape == (1, 1 + grid[0] * grid[1], 32)
    assert pos[0, 0, :2].tolist() == [-7.0, -7.0]  # the class position is not resampled
    row_code = pos[0, 1:, 0].view(grid)
    col_code = pos[0, 1:, 1].view(grid)
    # Row code rises down every column and is flat along every row (a 1-D resample would mix them).
    assert (row_code.diff(dim=0) > 0).all()
    torch.testing.assert_close(row_code, row_code[:, :1].expand(grid), atol=1e-4, rtol=0)
    assert (col_code.diff(dim=1) > 0).all()
    torch.testing.assert_close(col_code, col_code[:1].expand(grid), atol=1e-4, rtol=0)


def test_no_weight_decay_names_exist() -> None:
    decoder = tiny_decoder()
    assert decoder.no_weight_decay() <= dict(decoder.named_parameters()).keys()


def test_bad_input() -> None:
    decoder = tiny_decoder()
    tokens, index, cls = inputs((16, 8))
    dup = index.clone()
    dup[:, 1] = dup[:, 0]
    out_of_range = index.clone()
    out_of_range[0, -1] = 128
    cases = [
        ((tokens[..., :8], index, (16, 8), cls), "visible_tokens"),
        ((tokens, index.int(), (16, 8), cls), "LongTensor"),
        ((tokens, index[:, :-1], (16, 8), cls), "LongTensor"),
        ((tokens, index, (16, 8), cls[:1]), "anchor_cls"),
        ((tokens, dup, (16, 8), cls), "distinct"),
        ((tokens, out_of_range, (16, 8), cls), "distinct"),
        ((tokens, index, (0, 8), cls), "grid"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            decoder(*args)


def test_bf16_autocast_forward() -> None:
    tokens, index, cls = inputs((20, 10))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny_decoder()(tokens, index, (20, 10), cls)
    assert out.shape == (2, 200, P * P * C) and torch.isfinite(out.float()).all()


def test_masked_view_class_token_is_an_extra_input() -> None:
    torch.manual_seed(0)
    decoder = CSRDecoder(
        D, decoder_dim=32, depth=1, num_heads=2, patch_size=P, anchor_grid=(16, 8), masked_cls=True
    )
    tokens, index, cls = inputs((20, 10))
    own = torch.randn(2, D)
    out = decoder(tokens, index, (20, 10), cls, own)
    assert out.shape == (2, 200, P * P * C) and decoder.pos_embed.shape == (1, 2 + 128, 32)
    assert not torch.allclose(decoder(tokens, index, (20, 10), cls, torch.randn(2, D)), out)
    with pytest.raises(ValueError, match="masked_cls"):
        decoder(tokens, index, (20, 10), cls)
    with pytest.raises(ValueError, match="masked_cls"):
        tiny_decoder()(tokens, index, (20, 10), cls, own)
