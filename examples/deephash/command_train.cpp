// deephash train: a hashing model from labelled images.

#include <cstdio>

#include "command.hpp"
#include "commands.hpp"
#include "report.hpp"

namespace deephash::cli {

int command_train(int argc, char** argv, Job& job) {
  const CommandSpec spec{"train", "(--dataset SPEC | --database SPEC) --out MODEL [options]",
                         "Trains a CNN with a latent hash layer (the paper's method) on the database images (less the\n"
                         "validation set, if one is asked for; queries held out of a single set are never trained on) and\n"
                         "writes a model file (network, weights, input transformation, class names), its training curves\n"
                         "(MODEL.curves.svg) and, if asked, snapshots to resume from. With --validation-per-class N it\n"
                         "then scores the validation images as queries against the training images (mAP@1000): the\n"
                         "number to make training choices on, which never touches the queries.\n\n"
                         "With --prototxt, a pretrained network (a Caffe deploy prototxt, its weights from --init) gets\n"
                         "the latent layer and a classifier on top of blob --latent-after, instead of a preset network.\n\n"
                         "Under mpirun -np N it trains data-parallel on the CPU: --batch is the global batch (a multiple of\n"
                         "N), each rank runs its slice, gradients and batch-norm statistics are summed over the ranks, and\n"
                         "rank 0 writes the model, curves and snapshots (docs/SCALING.md).",
                         {image_set_options(false), train_options(), transfer_options(),
                          {{"out", "MODEL", "the model file to write"}, threads_option()}},
                         true};
  Args args;
  if (!parse_command(spec, argc, argv, args)) return 0;
  const std::string out = args.required("out");
  TrainConfig config = train_config_from(args);
  config.collective = job.collective();
  config.show_progress = job.leads();
  if (!args.has("prototxt"))
    for (const Option& o : transfer_options())
      if (args.has(o.name)) throw Error("--" + o.name, "belongs to transfer from a pretrained network: give --prototxt");
  const unsigned threads = threads_from(args);
  ThreadPool pool(threads);
  const RetrievalSets sets = sets_from(args, {true});
  if (job.leads()) {
    print_sets(sets);
    std::printf("training on %zu images (%d classes)%s\n", sets.training->size(), sets.training->num_classes(),
                job.sharded() ? (", data-parallel over " + std::to_string(job.size()) + " ranks").c_str() : "");
    std::fflush(stdout);
  }
  TrainResult r = args.has("prototxt") ? train_transfer_model(*sets.training, transfer_spec_from(args), config, pool)
                                        : train_hashing_model(*sets.training, config, pool);
  if (!job.leads()) return 0;  // every rank holds the same model: rank 0 writes it
  r.model.description += ", trained on " + sets.name;
  save_model(r.model, out);
  write_training_curves(r.history, out + ".curves.svg", r.model.description);
  std::printf("wrote %s (%.0f s of training) and %s.curves.svg\n", out.c_str(), r.history.seconds, out.c_str());
  if (sets.validation->size()) {
    const ModelEvaluation e = evaluate_model(r.model, sets.validation_sets(), "validation", r.history.seconds, threads);
    std::printf("validation: %zu images against the %zu training images\n", sets.validation->size(), sets.training->size());
    print_record(e.record);
  }
  return 0;
}

}  // namespace deephash::cli
