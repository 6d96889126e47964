/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, IR version 8) that import and export
 * read and write, as a protobufjs JSON descriptor, and the TypeScript shapes of the decoded
 * messages. Field numbers are onnx.proto's; fields left out (training info, functions, sparse
 * tensors, segments) are skipped by the decoder as unknown fields. Decoding turns int64s into
 * JavaScript numbers (exact to 2^53: dims, attribute ints, opset versions) except tensor
 * int64 payloads, which are read as strings to stay exact and then converted by tensor.ts.
 */
import protobuf from "protobufjs/light.js";

const rep = (type: string, id: number) => ({ rule: "repeated", type, id });
const one = (type: string, id: number) => ({ type, id });

const DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: one("string", 1),
            refAttrName: one("string", 21),
            docString: one("string", 13),
            type: one("int32", 20),
            f: one("float", 2),
            i: one("int64", 3),
            s: one("bytes", 4),
            t: one("TensorProto", 5),
            g: one("GraphProto", 6),
            floats: rep("float", 7),
            ints: rep("int64", 8),
            strings: rep("bytes", 9),
            tensors: rep("TensorProto", 10),
            graphs: rep("GraphProto", 11),
          },
        },
        ValueInfoProto: {
          fields: {
            name: one("string", 1),
            type: one("TypeProto", 2),
            docString: one("string", 3),
          },
        },
        NodeProto: {
          fields: {
            input: rep("string", 1),
            output: rep("string", 2),
            name: one("string", 3),
            opType: one("string", 4),
            domain: one("string", 7),
            attribute: rep("AttributeProto", 5),
            docString: one("string", 6),
          },
        },
        ModelProto: {
          fields: {
            irVersion: one("int64", 1),
            opsetImport: rep("OperatorSetIdProto", 8),
            producerName: one("string", 2),
            producerVersion: one("string", 3),
            domain: one("string", 4),
            modelVersion: one("int64", 5),
            docString: one("string", 6),
            graph: one("GraphProto", 7),
          },
        },
        GraphProto: {
          fields: {
            node: rep("NodeProto", 1),
            name: one("string", 2),
            initializer: rep("TensorProto", 5),
            docString: one("string", 10),
            input: rep("ValueInfoProto", 11),
            output: rep("ValueInfoProto", 12),
            valueInfo: rep("ValueInfoProto", 13),
          },
        },
        TensorProto: {
          fields: {
            dims: rep("int64", 1),
            dataType: one("int32", 2),
            floatData: { ...rep("float", 4), options: { packed: true } },
            int32Data: { ...rep("int32", 5), options: { packed: true } },
            stringData: rep("bytes", 6),
            int64Data: { ...rep("int64", 7), options: { packed: true } },
            name: one("string", 8),
            docString: one("string", 12),
            rawData: one("bytes", 9),
            externalData: rep("StringStringEntryProto", 13),
            dataLocation: one("int32", 14),
            doubleData: { ...rep("double", 10), options: { packed: true } },
            uint64Data: { ...rep("uint64", 11), options: { packed: true } },
          },
        },
        StringStringEntryProto: {
          fields: { key: one("string", 1), value: one("string", 2) },
        },
        TensorShapeProto: {
          fields: { dim: rep("Dimension", 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ["dimValue", "dimParam"] } },
              fields: {
                dimValue: one("int64", 1),
                dimParam: one("string", 2),
                denotation: one("string", 3),
              },
            },
          },
        },
        TypeProto: {
          fields: { tensorType: one("Tensor", 1), denotation: one("string", 6) },
          nested: {
            Tensor: { fields: { elemType: one("int32", 1), shape: one("TensorShapeProto", 2) } },
          },
        },
        OperatorSetIdProto: {
          fields: { domain: one("string", 1), version: one("int64", 2) },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(DESCRIPTOR);
export const ModelProtoType: protobuf.Type = root.lookupType("onnx.ModelProto");

// ---- decoded message shapes (protobufjs toObject with longs as numbers, bytes as arrays) ----

export interface TensorProto {
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: (number | string)[];
  doubleData?: number[];
  uint64Data?: (number | string)[];
  stringData?: Uint8Array[];
  name?: string;
  rawData?: Uint8Array;
  externalData?: { key?: string; value?: string }[];
  dataLocation?: number;
}

export interface AttributeProto {
  name?: string;
  refAttrName?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
}

export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Dimension[] } } };
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeProto[];
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}

export interface ModelProto {
  irVersion?: number;
  opsetImport?: { domain?: string; version?: number }[];
  producerName?: string;
  producerVersion?: string;
  graph?: GraphProto;
}

/** AttributeProto.AttributeType values. */
export const ATTR = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

/** Decodes a ModelProto; throws protobufjs's error on malformed bytes (import.ts wraps it). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const msg = ModelProtoType.decode(bytes);
  return ModelProtoType.toObject(msg, {
    longs: Number,
    bytes: Uint8Array,
    defaults: false,
    arrays: true,
  }) as ModelProto;
}

/** Encodes a ModelProto given in the shapes above. */
export function encodeModel(model: ModelProto): Uint8Array {
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}
