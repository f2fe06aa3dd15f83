package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line's contract: every command listed, bad input named, exit status 2 for usage, 1 for errors. */
class MainTest {
    record Outcome(int status, String out, String err) {}

    static Outcome run(String... argv) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true));
        System.setErr(new PrintStream(e, true));
        try {
            return new Outcome(Main.run(argv), o.toString(), e.toString());
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void helpListsEveryCommand() {
        Outcome r = run("--help");
        assertEquals(0, r.status());
        for (Command c : Main.COMMANDS) assertTrue(r.out().contains(c.name()), c.name());
        for (String name : new String[] {"forward", "bench", "train-tiny", "generate", "eval", "prune"}) {
            assertTrue(r.out().contains(name), name);
        }
    }

    @Test
    void unknownCommandsAndOptionsAreNamed() {
        Outcome r = run("frobnicate");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("unknown command 'frobnicate'"), r.err());
        r = run("forward", "--model", "x", "--inputs", "y", "--out", "z", "--dtyp", "fp16");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--dtyp"), r.err());
        r = run("forward", "--model", "x");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("missing required option --inputs"), r.err());
        r = run("forward", "--model", "x", "--inputs", "y", "--out", "z", "--dtype", "bf16");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("bfloat16"), r.err());
    }

    @Test
    void pruneRefusesABadRatioBeforeDoingAnyWork() {
        Outcome r = run("prune", "--ratio", "1.5", "--out", "/tmp/never");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("ratio must be a fraction in (0, 1)"), r.err());
        r = run("prune", "--ratio", "abc", "--out", "/tmp/never");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--ratio must be a number"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--sandwich", "4");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("sandwich width must be 1, 3 or 5"), r.err());
    }

    @Test
    void missingModelDirectoryIsAClearError(@TempDir Path tmp) throws Exception {
        Path prompts = tmp.resolve("p.tsv");
        Files.writeString(prompts, "single_object\ta circle\n");
        Outcome r = run("eval", "--model", tmp.resolve("nope").toString(), "--prompts", prompts.toString(),
                "--out", tmp.resolve("r.json").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("has no config.json"), r.err());
    }

    @Test
    void aPromptOutsideTheGrammarIsNamed(@TempDir Path tmp) {
        Outcome r = run("generate", "--prompt", "a purple hexagon", "--out", tmp.resolve("g.png").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("a purple hexagon"), r.err());
    }
}
