// `tenex-sandbox image build DIR --tag T`: builds an image from a local context directory
// through the project's own Docker client (the context is archived in-process).
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
}

}  // namespace tenex::cli
