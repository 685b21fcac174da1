import { describe, expect, it } from 'vitest';
import { loadGolden } from '../helpers/golden.js';
import { POOLING_OPS, planModel, type LayerSpec } from '../../src/nn/model.js';
import { ModelError } from '../../src/nn/errors.js';
import { Trainer } from '../../src/nn/trainer.js';
import { Rng } from '../../src/nn/rng.js';
import { numel } from '../../src/kernels/tensor.js';
import { lenet5, textbookCnn } from '../../src/nn/zoo.js';

const models = loadGolden('train.json').models as Record<
  string,
  { layers: LayerSpec[]; parameters: Array<{ name: string; shape: number[] }> }
>;

function modelError(fn: () => unknown): ModelError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return err as ModelError;
  }
  throw new Error('expected a ModelError');
}

const lenet = models.lenet5!;
const withLayer = (index: number, change: Record<string, unknown>) => ({
  layers: lenet.layers.map((l, i) => (i === index ? { ...l, ...change } : l)),
});

describe('the train.json architectures', () => {
  for (const [name, inputShape] of [
    ['deep_cnn', [3, 8, 8]],
    ['lenet5', [1, 28, 28]],
  ] as const) {
    it(`${name}: parameters named and ordered as PyTorch's state_dict, 10 outputs`, () => {
      const plan = planModel(models[name], inputShape);
      expect(plan.parameters.map((p) => ({ name: p.name, shape: [...p.shape] }))).toEqual(models[name]!.parameters);
      expect(plan.outputShape).toEqual([10]);
      expect(plan.parameterCount).toBe(models[name]!.parameters.reduce((s, p) => s + numel(p.shape), 0));
    });
  }

  it('lenet5: the shape after every layer', () => {
    const plan = planModel(lenet, [1, 28, 28]);
    expect(plan.layers.map((l) => l.outputShape)).toEqual([
      [6, 24, 24], [6, 24, 24], [6, 12, 12], [16, 8, 8], [16, 8, 8], [16, 4, 4], [256], [120], [120], [84], [84], [10],
    ]);
    expect(plan.parameterCount).toBe(44426);
  });

  it('deep_cnn takes any image of at least 4x4, the global pool making the head size-independent', () => {
    expect(planModel(models.deep_cnn, [3, 32, 32]).outputShape).toEqual([10]);
    expect(planModel(models.deep_cnn, [3, 5, 7]).outputShape).toEqual([10]);
  });
});

describe('ready-made models', () => {
  it('lenet5() is the train.json LeNet-5', () => {
    const plan = planModel(lenet5(), [1, 28, 28]);
    expect(plan.parameters.map((p) => ({ name: p.name, shape: [...p.shape] }))).toEqual(lenet.parameters);
    expect(plan.layers.map((l) => l.outputShape)).toEqual(planModel(lenet, [1, 28, 28]).layers.map((l) => l.outputShape));
  });

  it('textbookCnn(): conv 3-32-64-64, global average pool, linear 64-10', () => {
    const plan = planModel(textbookCnn(), [3, 32, 32]);
    expect(plan.layers.map((l) => l.outputShape)).toEqual([
      [32, 32, 32], [32, 32, 32], [32, 16, 16], [64, 16, 16], [64, 16, 16], [64, 8, 8], [64, 8, 8], [64, 8, 8], [64, 1, 1], [64], [10],
    ]);
    expect(plan.parameterCount).toBe(3 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 64 * 9 + 64 + 64 * 10 + 10);
  });
});

describe('shapes that do not chain are reported at the layer, with PyTorch message', () => {
  it('a linear layer with the wrong in_features', () => {
    const err = modelError(() => planModel(withLayer(7, { in_features: 200 }), [1, 28, 28]));
    expect(err.message).toBe("layer 7 'fc1' (linear): mat1 and mat2 shapes cannot be multiplied (1x256 and 200x120)");
    expect(err.layerIndex).toBe(7);
    expect(err.layerName).toBe('fc1');
  });

  it('a convolution with the wrong in_channels', () => {
    const err = modelError(() => planModel(withLayer(3, { in_channels: 5 }), [1, 28, 28]));
    expect(err.message).toBe(
      "layer 3 'conv2' (conv2d): Given groups=1, weight of size [16, 5, 5, 5], expected input[1, 6, 12, 12] to have 5 channels, but got 6 channels instead",
    );
  });

  it('an input too small for the network', () => {
    const err = modelError(() => planModel(lenet, [1, 12, 12]));
    expect(err.layerIndex).toBe(3);
    expect(err.message).toMatch(/^layer 3 'conv2' \(conv2d\): Calculated padded input size per channel: \(4 x 4\)\. Kernel size: \(5 x 5\)/);
  });

  it('a pool that leaves nothing', () => {
    const err = modelError(() => planModel({ layers: [{ op: 'max_pool2d', kernel_size: 3 }] }, [1, 2, 2]));
    expect(err.message).toBe('layer 0 (max_pool2d): Given input size: (1x2x2). Calculated output size: (1x0x0). Output size is too small');
  });
});

describe('descriptions are validated before anything is built', () => {
  const cases: Array<[string, unknown, string]> = [
    ['no layers', { layers: [] }, 'a model needs at least one layer'],
    ['not a list', { layer: [] }, 'a model needs a "layers" array'],
    ['unknown op', { layers: [{ op: 'maxpool2d', kernel_size: 2 }] }, "layer 0 (maxpool2d): unknown op 'maxpool2d'"],
    ['unknown argument', { layers: [{ op: 'relu', inplace: true }] }, "layer 0 (relu): unknown argument 'inplace' for relu"],
    ['missing argument', { layers: [{ op: 'linear', name: 'fc', in_features: 4 }] }, "layer 0 'fc' (linear): missing argument 'out_features'"],
    ['missing pool argument', { layers: [{ op: 'avg_pool2d' }] }, "layer 0 (avg_pool2d): missing argument 'kernel_size'"],
    ['bad name', { layers: [{ op: 'linear', name: 'a.b', in_features: 4, out_features: 2 }] }, 'layer 0 \'a.b\' (linear): "name" must be a non-empty string without "."'],
    [
      'duplicate name',
      { layers: [{ op: 'relu', name: 'act' }, { op: 'linear', name: 'act', in_features: 6, out_features: 2 }] },
      "layer 1 'act' (linear): duplicate layer name 'act'",
    ],
    ['groups', { layers: [{ op: 'conv2d', in_channels: 3, out_channels: 4, kernel_size: 1, groups: 2 }] }, 'layer 0 (conv2d): in_channels must be divisible by groups'],
    ['flatten batch', { layers: [{ op: 'flatten', start_dim: 0 }] }, 'layer 0 (flatten): flatten must keep the batch dimension: start_dim must be at least 1'],
    ['dropout p', { layers: [{ op: 'dropout', p: 1.5 }] }, 'layer 0 (dropout): dropout probability has to be between 0 and 1, but got 1.5'],
    ['batch norm size', { layers: [{ op: 'batch_norm', num_features: 2 }] }, 'layer 0 (batch_norm): running_mean should contain 4 elements not 2'],
    [
      'two outputs',
      { layers: [{ op: 'max_pool2d', kernel_size: 2, return_indices: true }] },
      'layer 0 (max_pool2d): return_indices=True gives two outputs, which a layer list cannot pass on',
    ],
  ];
  for (const [label, spec, message] of cases) {
    it(label, () => {
      expect(modelError(() => planModel(spec, [4, 6, 6])).message.startsWith(message)).toBe(true);
    });
  }

  it('names unnamed layers by index, as nn.Sequential does', () => {
    const plan = planModel({ layers: [{ op: 'flatten' }, { op: 'linear', in_features: 36, out_features: 2 }] }, [1, 6, 6]);
    expect(plan.parameters.map((p) => p.name)).toEqual(['1.weight', '1.bias']);
  });

  it('layers may carry a note', () => {
    expect(planModel({ layers: [{ op: 'relu', note: 'why' }] }, [3]).outputShape).toEqual([3]);
  });
});

/** Input of one sample for a pooling function of each dimensionality. */
const poolInput = (op: string) => (op.includes('1d') ? [2, 9] : op.includes('2d') ? [2, 9, 9] : [2, 5, 9, 9]);
const poolArgs = (op: string): Record<string, unknown> =>
  op.startsWith('adaptive') ? { output_size: 2 } : op.startsWith('lp') ? { norm_type: 2, kernel_size: 2 } : { kernel_size: 2 };

/** A layer list around one pooling function; max_unpool takes its indices from a max_pool before it. */
function poolingModel(op: string, inputShape: number[]) {
  if (!op.startsWith('max_unpool')) return [{ op, ...poolArgs(op) }];
  return [
    { op: op.replace('max_unpool', 'max_pool'), name: 'pool', kernel_size: 2 },
    { op, indices_from: 'pool', kernel_size: 2, output_size: inputShape.slice(1) },
  ];
}

describe('every pooling function is a layer', () => {
  for (const op of POOLING_OPS) {
    it(`${op}: plans, trains a step and produces gradients`, () => {
      const inputShape = poolInput(op);
      const layers = poolingModel(op, inputShape);
      const pooled = planModel({ layers }, inputShape).outputShape;
      if (op.startsWith('max_unpool')) expect(pooled).toEqual(inputShape);
      const trainer = new Trainer({
        model: { layers: [...layers, { op: 'flatten' }, { op: 'linear', name: 'fc', in_features: numel(pooled), out_features: 3 }] },
        inputShape,
        optimizer: { name: 'SGD', lr: 0.1 },
      });
      const rng = new Rng(3);
      const images = Float32Array.from({ length: 4 * numel(inputShape) }, () => rng.nextFloat32() + 0.5);
      const { loss } = trainer.trainStep(
        { shape: [4, ...inputShape], dtype: 'float32', data: images },
        { shape: [4], dtype: 'int64', data: Int32Array.from([0, 1, 2, 0]) },
      );
      expect(Number.isFinite(loss)).toBe(true);
      const grad = trainer.network.parameters[0]!.grad!;
      expect(grad.shape).toEqual([3, numel(pooled)]);
      expect(grad.data.some((g) => g !== 0)).toBe(true);
    });
  }

  it('max_unpool needs the name of an earlier max_pool of its dimension', () => {
    const unpool = { op: 'max_unpool2d', kernel_size: 2 };
    const pool = { op: 'max_pool2d', name: 'pool', kernel_size: 2 };
    expect(modelError(() => planModel({ layers: [pool, unpool] }, [2, 8, 8])).message).toMatch(/^layer 1 \(max_unpool2d\): missing argument 'indices_from'/);
    expect(modelError(() => planModel({ layers: [pool, { ...unpool, indices_from: 'p' }] }, [2, 8, 8])).message).toBe(
      "layer 1 (max_unpool2d): indices_from 'p' names no earlier layer",
    );
    expect(modelError(() => planModel({ layers: [{ ...pool, op: 'avg_pool2d' }, { ...unpool, indices_from: 'pool' }] }, [2, 8, 8])).message).toBe(
      "layer 1 (max_unpool2d): indices_from 'pool' is a avg_pool2d layer, not max_pool2d",
    );
    // The indices must have the shape of the unpooled input, as F.max_unpool2d checks.
    expect(
      modelError(() => planModel({ layers: [pool, { op: 'relu' }, { op: 'max_pool2d', kernel_size: 2 }, { ...unpool, indices_from: 'pool' }] }, [2, 8, 8])).message,
    ).toBe(
      'layer 3 (max_unpool2d): Expected shape of indices to be same as that of the input tensor ([1, 2, 2, 2]) but got indices tensor with shape: [1, 2, 4, 4]',
    );
  });
});
