// `tenex-sandbox image build DIR --tag T`: builds an image from a local context directory
// through the project's own Docker client (the context is archived in-process).
// `tenex-sandbox image push IMAGE --registry HOST:PORT`: names the image in that registry and
// pushes it there, so that the engines of a cluster can pull it (README: Running on a cluster).
#include <cstdio>
#include <string>

#include "cli/command.hpp"
#include "docker/client.hpp"
#include "docker/images.hpp"

namespace tenex::cli {

void register_image(CLI::App& root, Context& ctx) {
    auto* image = root.add_subcommand("image", "Container images built from local files");
    image->require_subcommand(1);
    auto* build = image->add_subcommand("build", "Build an image from a context directory");
    struct Args {
        std::string dir, tag, dockerfile = "Dockerfile", socket;
        bool no_cache = false, quiet = false;
    };
    auto args = std::make_shared<Args>();
    build->add_option("dir", args->dir, "Context directory (holds the Dockerfile)")
        ->required()
        ->check(CLI::ExistingDirectory);
    build->add_option("-t,--tag", args->tag, "Image tag, e.g. tenex-probe:latest")->required();
    build->add_option("-f,--file", args->dockerfile, "Dockerfile path inside the context");
    build->add_option("--docker-socket", args->socket,
                      "Engine socket (default: DOCKER_HOST, then /var/run/docker.sock)");
    build->add_flag("--no-cache", args->no_cache, "Do not use the build cache");
    build->add_flag("-q,--quiet", args->quiet, "Print only the image id");
    build->callback([args, &ctx] {
        auto client = docker::Client::connect({.socket = args->socket});
        if (!client) {
            std::fprintf(stderr, "tenex-sandbox: %s\n", client.error().describe().c_str());
            ctx.exit_code = 1;
            return;
        }
        docker::BuildOptions options;
        options.tag = args->tag;
        options.dockerfile = args->dockerfile;
        options.no_cache = args->no_cache;
        if (!args->quiet)
            options.on_output = [](std::string_view line) {
                std::fwrite(line.data(), 1, line.size(), stdout);
                std::fflush(stdout);
            };
        auto id = docker::build_image_from_dir(**client, args->dir, options);
        if (!id) {
            std::fprintf(stderr, "tenex-sandbox: %s\n", id.error().describe().c_str());
            ctx.exit_code = 1;
            return;
        }
        std::printf(args->quiet ? "%s\n" : "built %s\n", id->c_str());
    });

    auto* push = image->add_subcommand("push", "Push a local image to a registry of yours");
    struct PushArgs {
        std::string image, registry, socket;
        bool quiet = false;
    };
    auto pargs = std::make_shared<PushArgs>();
    push->add_option("image", pargs->image, "Local image, e.g. tenex-probe:latest")->required();
    push->add_option("--registry", pargs->registry,
                     "Registry address HOST[:PORT], e.g. 10.0.0.1:5000")
        ->required();
    push->add_option("--docker-socket", pargs->socket,
                     "Engine socket (default: DOCKER_HOST, then /var/run/docker.sock)");
    push->add_flag("-q,--quiet", pargs->quiet, "Print only the pushed reference");
    push->callback([pargs, &ctx] {
        auto fail = [&ctx](const std::string& message) {
            std::fprintf(stderr, "tenex-sandbox: %s\n", message.c_str());
            ctx.exit_code = 1;
        };
        auto target = docker::registry_reference(pargs->image, pargs->registry);
        if (!target) return fail(target.error().message);
        auto client = docker::Client::connect({.socket = pargs->socket});
        if (!client) return fail(client.error().describe());
        if (auto tagged = docker::tag_image(**client, pargs->image, *target); !tagged)
            return fail(tagged.error().describe());
        docker::TransferOptions options;
        if (!pargs->quiet)
            options.on_output = [](std::string_view line) {
                std::fwrite(line.data(), 1, line.size(), stdout);
                std::fflush(stdout);
            };
        auto digest = docker::push_image(**client, *target, options);
        if (!digest) return fail(digest.error().describe());
        std::printf(pargs->quiet ? "%s@%s\n" : "pushed %s@%s\n", target->c_str(), digest->c_str());
    });
}

}  // namespace tenex::cli
