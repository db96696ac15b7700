#include "argv.h"

#include "config.h"
#include "report.h"

#define EPMD_MODULE "build_image_epmd"
/* The readiness module the build adds to every release (erlang/build_image_systemd.erl). */
#define SYSTEMD_MODULE "build_image_systemd"
/* ERTS 15 is OTP 27, which deprecated -epmd_module for the kernel parameter. */
#define ERTS_MAJOR_KERNEL_EPMD_MODULE 15

#define VM_FLAG_ENTRY(word) word,
/* launcher.vm_flags of build-image.yaml, validated against an allowlist at build time. */
static const char *const vm_flags[] = {LAUNCHER_VM_FLAGS(VM_FLAG_ENTRY) NULL};

static void add(struct erl_argv *b, const char *arg)
{
    if (b->n + 1 >= ERL_ARGV_MAX)
        die(EXIT_INTERNAL, "too many arguments for erlexec");
    b->args[b->n++] = (char *)arg;
    b->args[b->n] = NULL;
}

static void add_words(struct erl_argv *b, const char *const *words, size_t count)
{
    for (size_t i = 0; i < count; i++)
        add(b, words[i]);
}

static void add_release_boot(struct erl_argv *b, const struct release *rel,
                             const char *sys_config)
{
    const char *words[] = {"-config", sys_config, "-boot", rel->boot,
                           "-boot_var", "RELEASE_LIB", rel->lib};
    add_words(b, words, sizeof words / sizeof words[0]);
}

/*
 * vm.args is expanded in place, then the build's VM flags, then
 * -start_epmd false.  Emulator (+) flags given twice take the later value,
 * so launcher.vm_flags override vm.args; erlexec takes the last
 * -start_epmd, so that one stays at the end.  Neither list can carry a
 * distribution flag: both are checked against the same allowlist at build
 * time.
 */
static void add_vm_args(struct erl_argv *b, const struct release *rel)
{
    add(b, "-args_file");
    add(b, rel->vm_args);
    for (size_t i = 0; vm_flags[i] != NULL; i++)
        add(b, vm_flags[i]);
    add(b, "-start_epmd");
    add(b, "false");
}

static void add_distribution(struct erl_argv *b, const struct release *rel)
{
    const char *port[] = {"-kernel", "inet_dist_listen_min", DIST_PORT_TEXT,
                          "inet_dist_listen_max", DIST_PORT_TEXT};
    add_words(b, port, sizeof port / sizeof port[0]);
    if (LAUNCHER_REQUIRE_TLS) {
        const char *tls[] = {"-proto_dist", "inet_tls", "-ssl_dist_optfile", rel->tls_optfile};
        add_words(b, tls, sizeof tls / sizeof tls[0]);
    }
    if (LAUNCHER_EPMDLESS) {
        if (rel->versions.erts_major >= ERTS_MAJOR_KERNEL_EPMD_MODULE) {
            add(b, "-kernel");
            add(b, "epmd_module");
        } else {
            add(b, "-epmd_module");
        }
        add(b, EPMD_MODULE);
    }
}

void build_server_argv(struct erl_argv *b, const struct release *rel, const char *mode,
                       const char *node, const char *sys_config)
{
    /*
     * init runs -s functions in order once the boot script has started every
     * application: `ready` then tells systemd the release has booted.
     */
    const char *head[] = {rel->erlexec, "-noshell", "-s", "elixir", "start_cli",
                          "-s", SYSTEMD_MODULE, "ready", "-mode", mode, "-name", node};
    b->n = 0;
    add_words(b, head, sizeof head / sizeof head[0]);
    add_release_boot(b, rel, sys_config);
    add_distribution(b, rel);
    add_vm_args(b, rel);
    add(b, "-extra");
    add(b, "--no-halt");
}

void build_task_argv(struct erl_argv *b, const struct release *rel, const char *sys_config,
                     const char *expression)
{
    const char *head[] = {rel->erlexec, "-noshell", "-s", "elixir", "start_cli"};
    b->n = 0;
    add_words(b, head, sizeof head / sizeof head[0]);
    add_release_boot(b, rel, sys_config);
    add_vm_args(b, rel);
    add(b, "-extra");
    add(b, "--eval");
    add(b, expression);
}
