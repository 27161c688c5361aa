@preconcurrency import CNCursesW
import CNCursesShim
public import ConsoleModel
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one place that talks to ncurses. It owns the terminal from a single dedicated thread:
/// the loop sleeps in poll(2) on the terminal and a ``ScreenWake`` and renders a frame (a pure
/// ``Grid`` from the caller) when something changed — keys, a new size, a new
/// ``Callbacks/version`` (a snapshot arrived, and its owner woke the loop) — or a second has
/// passed, so a new window is on screen the moment it arrives while an idle console draws once
/// a second.
public enum TerminalScreen {
    /// What the loop asks of its owner.
    public struct Callbacks: Sendable {
        /// The frame to show at this size.
        public var frame: @Sendable (_ rows: Int, _ cols: Int) -> Grid
        /// A key was pressed; return false to end the loop.
        public var key: @Sendable (Key) -> Bool
        /// The theme to draw with right now (themes can change at run time).
        public var theme: @Sendable () -> Theme
        /// Changes whenever what ``frame`` would draw changed for a reason other than a key.
        public var version: @Sendable () -> UInt64
        /// Woken by the owner after it changed ``version`` (or set the stop flag).
        public var wake: ScreenWake

        public init(
            frame: @escaping @Sendable (Int, Int) -> Grid, key: @escaping @Sendable (Key) -> Bool, theme: @escaping @Sendable () -> Theme,
            version: @escaping @Sendable () -> UInt64, wake: ScreenWake
        ) {
            self.frame = frame
            self.key = key
            self.theme = theme
            self.version = version
            self.wake = wake
        }
    }

    /// Whether standard input and output are a terminal.
    public static var isInteractive: Bool {
        isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
    }

    /// Runs the UI on a new thread until a key handler returns false or `stop` becomes true;
    /// the terminal is restored before this returns.
    public static func run(_ callbacks: Callbacks, colors: Bool, stop: StopFlag) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = UIThread {
                loop(callbacks, colors: colors, stop: stop)
                done.resume()
            }
            thread.start()
        }
    }

    private static func loop(_ callbacks: Callbacks, colors: Bool, stop: StopFlag) {
        ensureUTF8Locale()
        guard let window = initscr() else { return }
        activeScreen.store(true, ordering: .relaxed)
        installCrashRestore()
        defer {
            endwin()
            activeScreen.store(false, ordering: .relaxed)
        }
        cbreak()
        noecho()
        nonl()
        keypad(window, true)
        curs_set(0)
        set_escdelay(25)
        // Input is waited for in poll(2); wget_wch only takes what has arrived.
        wtimeout(window, 0)
        var palette = Palette(theme: callbacks.theme(), colors: colors)
        var drawn: (version: UInt64, rows: Int32, cols: Int32, at: ContinuousClock.Instant)?
        var keyPressed = true

        while !stop.isSet {
            let theme = callbacks.theme()
            if theme.name != palette.themeName {
                palette = Palette(theme: theme, colors: colors)
                keyPressed = true
            }
            var rows: Int32 = 0
            var cols: Int32 = 0
            ncs_getmaxyx(window, &rows, &cols)
            // Follow the terminal's real size even if a SIGWINCH went astray (blocked or owned
            // by someone else in the process): one ioctl per frame.
            var size = winsize()
            if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0,
                Int32(size.ws_row) != rows || Int32(size.ws_col) != cols
            {
                resizeterm(Int32(size.ws_row), Int32(size.ws_col))
                werase(window)
                ncs_getmaxyx(window, &rows, &cols)
            }
            let version = callbacks.version()
            let now = ContinuousClock.now
            let stale = drawn.map { $0.version != version || $0.rows != rows || $0.cols != cols || now - $0.at >= .seconds(1) } ?? true
            if rows > 0 && cols > 0 && (keyPressed || stale) {
                present(callbacks.frame(Int(rows), Int(cols)), on: window, palette: palette)
                drawn = (version, rows, cols, now)
            }
            keyPressed = false
            callbacks.wake.wait(forInputOn: STDIN_FILENO, milliseconds: 100)
            // Every key that has arrived, then one frame for all of them.
            var character: wint_t = 0
            var status = wget_wch(window, &character)
            while status != ERR {
                if let key = Self.key(status: status, character: character) {
                    if key == .resize { werase(window) }
                    keyPressed = true
                    if !callbacks.key(key) { return }
                }
                status = wget_wch(window, &character)
            }
        }
    }

    /// Maps what `wget_wch` returned to a key.
    static func key(status: Int32, character: wint_t) -> Key? {
        if status == KEY_CODE_YES {
            switch Int32(character) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_BTAB: return .backTab
            case KEY_ENTER: return .enter
            case KEY_BACKSPACE: return .backspace
            case KEY_RESIZE: return .resize
            default: return nil
            }
        }
        switch character {
        case 27: return .escape
        case 9: return .tab
        case 10, 13: return .enter
        case 8, 127: return .backspace
        default:
            guard let scalar = Unicode.Scalar(UInt32(character)), character >= 32 else { return nil }
            return .character(Character(scalar))
        }
    }

    /// Copies a grid out, one run of cells per role.
    private static func present(_ grid: Grid, on window: UnsafeMutablePointer<WINDOW>, palette: Palette) {
        for row in 0..<grid.rows {
            var col = 0
            while col < grid.cols {
                let role = grid[row, col].role
                let start = col
                var run: [wchar_t] = []
                while col < grid.cols, grid[row, col].role == role {
                    for scalar in grid[row, col].text.unicodeScalars { run.append(wchar_t(bitPattern: scalar.value)) }
                    col += 1
                }
                let (attributes, pair) = palette.style(for: role)
                wattr_set(window, attributes, pair, nil)
                _ = mvwaddnwstr(window, Int32(row), Int32(start), run, Int32(run.count))
            }
        }
        wnoutrefresh(window)
        doupdate()
    }

    /// Without a UTF-8 locale wide characters are silently dropped.
    private static func ensureUTF8Locale() {
        setlocale(LC_ALL, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            setlocale(LC_CTYPE, "C.UTF-8")
        }
    }

    /// Whether curses owns the terminal (for the crash handler).
    static let activeScreen = Atomic<Bool>(false)

    /// On a crash signal, give the terminal back before the process dies.
    private static func installCrashRestore() {
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if TerminalScreen.activeScreen.load(ordering: .relaxed) { endwin() }
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
    }
}

/// A flag the owner sets to end the UI loop; setting it wakes the loop.
public final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    private let wake: ScreenWake?

    public init(waking wake: ScreenWake? = nil) {
        self.wake = wake
    }

    public func set() {
        value.store(true, ordering: .relaxed)
        wake?.wake()
    }

    public var isSet: Bool { value.load(ordering: .relaxed) }
}

/// Wakes the UI loop from any thread: a non-blocking pipe the loop polls together with the
/// terminal, so a change made elsewhere is drawn at once instead of at the next timeout.
public final class ScreenWake: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    public init() {
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
        } else {
            ends = [-1, -1]
        }
        (readEnd, writeEnd) = (ends[0], ends[1])
    }

    deinit {
        if readEnd >= 0 { close(readEnd) }
        if writeEnd >= 0 { close(writeEnd) }
    }

    /// Makes the loop's current or next wait return (a full pipe already will).
    public func wake() {
        guard writeEnd >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Waits until `descriptor` has input, ``wake()`` was called, or `milliseconds` passed;
    /// then empties the pipe.
    func wait(forInputOn descriptor: Int32, milliseconds: Int32) {
        var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
        _ = poll(&descriptors, readEnd >= 0 ? 2 : 1, milliseconds)
        guard readEnd >= 0, descriptors[1].revents != 0 else { return }
        var drained = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &drained, drained.count) > 0 {}
    }
}

/// Colour pairs and attributes per role, stepped down to what the terminal has.
struct Palette {
    let themeName: String
    private var styles: [Role: (UInt32, Int16)] = [:]

    init(theme: Theme, colors wanted: Bool) {
        themeName = theme.name
        var available = 0
        if wanted && has_colors() {
            start_color()
            use_default_colors()
            available = Int(COLORS)
        }
        let stepped = theme.stepDown(colors: available)
        for (index, role) in Role.allCases.enumerated() {
            let style = stepped.styles[role] ?? Theme.builtIn.styles[role] ?? Style.plain
            var attributes = ncs_a_normal()
            if style.bold { attributes |= ncs_a_bold() }
            if style.underline { attributes |= ncs_a_underline() }
            if style.reverse { attributes |= ncs_a_reverse() }
            if style.dim { attributes |= ncs_a_dim() }
            var pair: Int16 = 0
            if available > 0 {
                pair = Int16(index + 1)
                init_pair(pair, Self.number(style.foreground, available), Self.number(style.background, available))
            }
            styles[role] = (attributes, pair)
        }
    }

    func style(for role: Role) -> (UInt32, Int16) {
        styles[role] ?? (ncs_a_normal(), 0)
    }

    private static func number(_ color: ThemeColor, _ available: Int) -> Int16 {
        switch color {
        case .terminalDefault: -1
        case .indexed(let index): index < available ? Int16(index) : -1
        }
    }
}

/// A plain POSIX thread for the UI loop (curses is not thread-safe: one thread owns it).
final class UIThread: @unchecked Sendable {
    private let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }

    func start() {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self)
        pthread_create(
            &thread, nil,
            { argument in
                let me = Unmanaged<UIThread>.fromOpaque(argument!).takeRetainedValue()
                me.body()
                return nil
            }, box.toOpaque())
        pthread_detach(thread)
    }
}
