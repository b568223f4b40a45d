"""deephash: deep binary hash codes and Hamming search at hardware speed.

Python bindings over deephash's C++ core (Lin et al., "Deep Learning of Binary Hash Codes for
Fast Image Retrieval", CVPR Workshops 2015, and beyond). Read the way FAISS reads:

    import deephash, numpy as np
    index = deephash.HammingIndex(48)            # or deephash.MultiIndexHashing(48)
    index.add(codes)                             # uint8, n x 6 (FAISS's layout), or bool, n x 48
    D, I = index.search(queries, 10)             # int32 distances, int64 ids: nq x 10
    lims, D, I = index.range_search(queries, 3)

    model = deephash.load_model("examples/models/cifar10-48bit/model.dhm")
    codes, feats = model.encode(images, features=True)   # uint8 N x H x W x C images
    result = deephash.train(images, labels, bits=48, progress=lambda p: print(p.iteration, p.loss))
    scores = deephash.evaluate(index, query_codes, query_labels, database_labels, k=1000)

Codes cross in FAISS's byte layout: ceil(bits / 8) bytes a code, bit j in byte j // 8 at position
j % 8 (least significant first). When bits is not a multiple of 8 the unused high bits of the
last byte are zero in every code deephash returns and ignored in every code it is given. bool
arrays of one value per bit are accepted wherever codes are. Codes of 64, 128, ... bits are read
and returned without a copy.

Arrays must be C-contiguous and of the documented dtype: a wrong dtype raises TypeError; a wrong
shape, a non-contiguous array, a length that does not match, NaN or a bad file raises ValueError
(FileNotFoundError for a missing file), with a message naming the argument or file. Search,
encoding and training release the GIL. deephash.set_num_threads(n) (1 to 1024) sets the threads
of everything made without an explicit count: models, training, and the indexes, also those made
before the call.
"""

from ._deephash import (  # noqa: F401
    BinaryIndex,
    EncodedSet,
    HammingIndex,
    ITQ,
    LSH,
    Model,
    MultiIndexHashing,
    Protocol,
    RankingScores,
    Source,
    TrainingProgress,
    TrainResult,
    array_source,
    binarize,
    cifar10_lin2015_protocol,
    code_size,
    evaluate,
    evaluate_protocol,
    get_num_threads,
    index_from_bytes,
    load_encoded_set,
    load_index,
    load_model,
    map_at_k,
    map_at_k_protocol,
    map_full_ranking,
    open_source,
    pack_bits,
    path_source,
    precision_at_k,
    precision_recall_by_radius,
    precision_within_radius,
    presets,
    rerank,
    score_rankings,
    set_num_threads,
    train,
    unpack_bits,
)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
